package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestFlagErrorsAreOneLine: a bad flag is one line on stderr and exit 2, as
// the README promises of every error, in every command; -h and --help print
// the command's whole usage and exit 0.
func TestFlagErrorsAreOneLine(t *testing.T) {
	for name := range commands() {
		t.Run(name, func(t *testing.T) {
			r := runMain(t, nil, "", name, "--colour")
			want := fmt.Sprintf("noderemover %s: flag provided but not defined: -colour (run `noderemover %s -h` for its flags)\n", name, name)
			if r.code != exitUsage || r.stdout != "" || r.stderr != want {
				t.Errorf("--colour: exit %d, stdout %q, stderr %q; want exit 2 and stderr %q", r.code, r.stdout, r.stderr, want)
			}
			for _, help := range []string{"-h", "--help"} {
				r := runMain(t, nil, "", name, help)
				if r.code != exitOK || !strings.Contains(r.stderr, "noderemover "+name) || !strings.Contains(r.stderr, "\n  -") {
					t.Errorf("%s: exit %d, stderr %q; want exit 0 and the usage with its flags", help, r.code, r.stderr)
				}
			}
		})
	}
	// A flag without its value, and a value the flag cannot take.
	for _, args := range [][]string{{"enqueue", "--project-id"}, {"list", "--limit", "many"}} {
		r := runMain(t, nil, "", args...)
		hint := fmt.Sprintf("(run `noderemover %s -h` for its flags)\n", args[0])
		if r.code != exitUsage || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, hint) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line ending %q", args, r.code, r.stderr, hint)
		}
	}
}
