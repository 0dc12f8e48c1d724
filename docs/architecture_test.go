package docs

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const module = "github.com/noderemover/noderemover/"

// rows returns the cells of the table between <!-- name: ... --> and
// <!-- end name -->, header and rule left out.
func rows(t *testing.T, doc, name string) [][]string {
	t.Helper()
	start := strings.Index(doc, "<!-- "+name+":")
	end := strings.Index(doc, "<!-- end "+name+" -->")
	if start < 0 || end < start {
		t.Fatalf("architecture.md has no %s table", name)
	}
	var out [][]string
	for i, line := range strings.Split(doc[start:end], "\n")[1:] {
		line = strings.TrimSpace(line)
		if i < 2 || !strings.HasPrefix(line, "|") {
			continue // the header and its rule
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		out = append(out, cells)
	}
	return out
}

func readDoc(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func list(cell string) []string {
	var out []string
	for _, s := range strings.Split(cell, ",") {
		if s = strings.Trim(strings.TrimSpace(s), "`"); s != "" && s != "—" {
			out = append(out, s)
		}
	}
	return out
}

// TestLifecycleTableIsTheCode: the batch table in the document is
// removal's, line for line.
func TestLifecycleTableIsTheCode(t *testing.T) {
	var doc []string
	for _, r := range rows(t, readDoc(t), "batch-lifecycle") {
		to := list(r[2])
		slices.Sort(to)
		doc = append(doc, r[0]+" --"+r[1]+"--> "+strings.Join(to, ","))
	}
	var code []string
	for _, tr := range removal.Transitions() {
		to := make([]string, len(tr.To))
		for i, s := range tr.To {
			to[i] = string(s)
		}
		slices.Sort(to)
		code = append(code, string(tr.From)+" --"+string(tr.Event)+"--> "+strings.Join(to, ","))
	}
	if !slices.Equal(doc, code) {
		t.Errorf("architecture.md's lifecycle:\n  %s\nremoval's:\n  %s", strings.Join(doc, "\n  "), strings.Join(code, "\n  "))
	}
}

// TestRequestMovesAreTheCode: the moves the document lists are exactly
// those removal allows.
func TestRequestMovesAreTheCode(t *testing.T) {
	states := []removal.State{removal.StateQueued, removal.StateSubmitting, removal.StatePolling,
		removal.StateSucceeded, removal.StateFailed, removal.StateCancelled}
	listed := map[[2]removal.State]bool{}
	for _, r := range rows(t, readDoc(t), "request-moves") {
		for _, to := range list(r[1]) {
			listed[[2]removal.State{removal.State(r[0]), removal.State(to)}] = true
		}
	}
	for _, from := range states {
		for _, to := range states {
			if got := removal.MayMove(from, to); got != listed[[2]removal.State{from, to}] {
				t.Errorf("%s → %s: removal says %v, architecture.md %v", from, to, got, !got)
			}
		}
	}
}

// testHelpers are the packages for tests only; no production package
// imports them.
var testHelpers = []string{"removal/removaltest", "internal/store/storetest", "internal/testkit", "internal/redistest", "internal/proctest", "internal/benchkit", "internal/kubetest"}

// TestImportsFollowTheDocument: every package imports (of ours) only what
// the document's package table says it may.
func TestImportsFollowTheDocument(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	allowed := map[string][]string{}
	for _, r := range rows(t, readDoc(t), "packages") {
		for _, pkg := range list(r[0]) {
			if strings.HasPrefix(r[2], "everything above") {
				allowed[pkg] = []string{"*"}
				continue
			}
			allowed[pkg] = list(r[2])
		}
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		may, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s is not in architecture.md's package table", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			switch {
			case !ours:
			case slices.Contains(may, "(tests)"):
			case slices.Equal(may, []string{"*"}):
				if dep == "removal" || slices.Contains(testHelpers, dep) {
					t.Errorf("%s imports %s, which it may not", pkg, dep)
				}
			case !slices.Contains(may, dep):
				t.Errorf("%s imports %s; architecture.md allows %v", pkg, dep, may)
			}
		}
	}
}
