package deployments

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	promDir        = "prometheus"
	rulesFile      = "rules.yaml"          // under promDir: a plain Prometheus rules file
	promRuleFile   = "prometheusrule.yaml" // under promDir: the same as a PrometheusRule
	rulesTestFile  = "rules_test.yaml"     // under promDir: promtool's unit tests
	runbookPath    = "../docs/runbook.md"
	runbookURLBase = "https://github.com/noderemover/noderemover/blob/main/docs/runbook.md#"
	// workerJob is the scrape job of the workers that the rules expect.
	workerJob = "noderemover-worker"
	// requirePrometheus makes a missing promtool or prometheus a failure,
	// as .ci/run sets it.
	requirePrometheus = "NODEREMOVER_REQUIRE_PROMETHEUS"
)

// ruleFile is a Prometheus rules file (Prometheus' rulefmt.RuleGroups,
// whose module is not a dependency): the fields rulefmt knows, so decoding
// strictly fails on a misspelled one.
type ruleFile struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Limit    int    `json:"limit,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Record      string            `json:"record,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// prometheusRule mirrors the Prometheus Operator's PrometheusRule
// (monitoring.coreos.com/v1): k8s.io/api has no type for it and the
// Operator's module is not a dependency. Its groups are rulefmt's.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ruleFile `json:"spec"`
}

// readRules decodes rules.yaml strictly.
func readRules(tb testing.TB) ruleFile {
	tb.Helper()
	var rf ruleFile
	readStrict(tb, filepath.Join(promDir, rulesFile), &rf)
	if len(rf.Groups) == 0 {
		tb.Fatalf("%s holds no groups", rulesFile)
	}
	return rf
}

func readStrict(tb testing.TB, path string, v any) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := decodeStrict(data, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// alerts returns every alerting rule.
func (rf ruleFile) alerts() []rule {
	var out []rule
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// The PrometheusRule holds exactly the groups of rules.yaml, so the two
// cannot drift.
func TestPrometheusRuleIsTheRulesFile(t *testing.T) {
	rf := readRules(t)
	var pr prometheusRule
	readStrict(t, filepath.Join(promDir, promRuleFile), &pr)
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Name == "" {
		t.Errorf("%s: apiVersion %q kind %q name %q, want a named monitoring.coreos.com/v1 PrometheusRule",
			promRuleFile, pr.APIVersion, pr.Kind, pr.Name)
	}
	if !reflect.DeepEqual(pr.Spec.Groups, rf.Groups) {
		t.Errorf("%s's groups differ from %s's; change both:\n%+v\n%+v", promRuleFile, rulesFile, pr.Spec.Groups, rf.Groups)
	}
}

// Every alert says how severe it is, what it means and where its runbook
// is: a section of docs/runbook.md whose anchor is the runbook_url's; and
// every section of the runbook is an alert's.
func TestRunbookHasEveryAlert(t *testing.T) {
	anchors := runbookAnchors(t)
	alerts := readRules(t).alerts()
	if len(alerts) == 0 {
		t.Fatal("no alerts")
	}
	var want []string
	for _, a := range alerts {
		if s := a.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("%s: severity %q, want warning or critical", a.Alert, s)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(a.Annotations[k]) == "" {
				t.Errorf("%s: no annotation %s", a.Alert, k)
			}
		}
		u := a.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(u, runbookURLBase)
		if !ok {
			t.Errorf("%s: runbook_url %q is not under %s", a.Alert, u, runbookURLBase)
			continue
		}
		if anchor != githubAnchor(a.Alert) {
			t.Errorf("%s: runbook_url's anchor %q, want its own section #%s", a.Alert, anchor, githubAnchor(a.Alert))
		}
		if !slices.Contains(anchors, anchor) {
			t.Errorf("%s: %s has no section with anchor #%s", a.Alert, runbookPath, anchor)
		}
		want = append(want, anchor)
	}
	for _, a := range anchors {
		if !slices.Contains(want, a) {
			t.Errorf("%s: section #%s is no alert's", runbookPath, a)
		}
	}
}

// runbookAnchors are the anchors of the runbook's second-level sections.
func runbookAnchors(tb testing.TB) []string {
	tb.Helper()
	data, err := os.ReadFile(runbookPath)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^## (.+)$`).FindAllStringSubmatch(string(data), -1) {
		out = append(out, githubAnchor(m[1]))
	}
	return out
}

// githubAnchor is the anchor GitHub gives a heading: lower case,
// punctuation dropped, spaces as hyphens.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// lookPrometheus finds a Prometheus binary (promtool, prometheus): a
// failure when NODEREMOVER_REQUIRE_PROMETHEUS is set, else a skip.
func lookPrometheus(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv(requirePrometheus) != "" {
		tb.Fatalf("%s not found and %s is set: install Debian's prometheus package (.ci/run does)", name, requirePrometheus)
	}
	tb.Skipf("%s not found (install Debian's prometheus package; %s=1 makes this a failure)", name, requirePrometheus)
	return ""
}

// promtool checks the rules and runs their unit tests; every alert has a
// case that fires it and one that keeps it silent.
func TestPromtool(t *testing.T) {
	promtool := lookPrometheus(t, "promtool")
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = promDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	var tests struct {
		RuleFiles          []string `json:"rule_files"`
		EvaluationInterval string   `json:"evaluation_interval"`
		Tests              []struct {
			Interval    string `json:"interval"`
			InputSeries []struct {
				Series string `json:"series"`
				Values string `json:"values"`
			} `json:"input_series"`
			AlertRuleTest []struct {
				EvalTime  string `json:"eval_time"`
				Alertname string `json:"alertname"`
				ExpAlerts []struct {
					ExpLabels      map[string]string `json:"exp_labels"`
					ExpAnnotations map[string]string `json:"exp_annotations"`
				} `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	readStrict(t, filepath.Join(promDir, rulesTestFile), &tests)
	if !slices.Equal(tests.RuleFiles, []string{rulesFile}) {
		t.Errorf("%s tests %v, want [%s]", rulesTestFile, tests.RuleFiles, rulesFile)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, at := range tc.AlertRuleTest {
			if len(at.ExpAlerts) == 0 {
				silent[at.Alertname] = true
			} else {
				fires[at.Alertname] = true
			}
		}
	}
	for _, a := range readRules(t).alerts() {
		if !fires[a.Alert] {
			t.Errorf("%s: no promtool case fires %s", rulesTestFile, a.Alert)
		}
		if !silent[a.Alert] {
			t.Errorf("%s: no promtool case keeps %s silent", rulesTestFile, a.Alert)
		}
	}
}
