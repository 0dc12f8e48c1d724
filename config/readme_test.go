package config_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/noderemover/noderemover/config"
)

// TestREADMEConfigurationTable keeps the README's table and the code in step:
// every variable the code reads is documented with its default, and the
// table documents nothing else.
func TestREADMEConfigurationTable(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| ([^|]+) \\|").FindAllStringSubmatch(string(raw), -1)
	documented := map[string]string{}
	for _, r := range rows {
		documented[r[1]] = r[2]
	}
	for _, v := range config.Variables() {
		def, ok := documented[v.Name]
		if !ok {
			t.Errorf("%s is not in the README's configuration table", v.Name)
			continue
		}
		want := "—"
		if v.Default != "" {
			want = "`" + v.Default + "`"
		}
		if def != want+" " && def != want {
			t.Errorf("%s: README says default %q, code has %q", v.Name, def, want)
		}
		delete(documented, v.Name)
	}
	for name := range documented {
		t.Errorf("the README documents %s, which the code does not read", name)
	}
}
