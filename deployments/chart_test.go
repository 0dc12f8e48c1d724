package deployments

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/internal/health"
)

// prometheusRulesFile is where the Prometheus rules live outside the
// chart; the chart's files/rules.yaml must be a copy of it.
const prometheusRulesFile = "prometheus/rules.yaml"

// TestHelmLint runs `helm lint --strict` with the default values, with
// every optional feature on, and with the HPA instead of KEDA.
func TestHelmLint(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"Defaults": nil, "Everything": everything, "HPA": merge(everything, withHPA),
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chartDir}, valuesFile(t, values)...)
			if out, err := runHelm(t, args...); err != nil {
				t.Fatal(err)
			} else if strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

// chartValues reads the chart's values.yaml.
type chartValues struct {
	Config  map[string]any `json:"config"`
	Secrets map[string]struct {
		ExistingSecret string         `json:"existingSecret"`
		Values         map[string]any `json:"values"`
	} `json:"secrets"`
}

func loadChartValues(tb testing.TB) chartValues {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	var v chartValues
	if err := yaml.Unmarshal(data, &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// TestChartValuesCoverEveryVariable: values.yaml has a key for every
// variable noderemover reads, secret ones only under secrets, and each
// holds the kustomize base's value or else the program's default.
func TestChartValuesCoverEveryVariable(t *testing.T) {
	v := loadChartValues(t)
	base := kustomizeBuild(t, kubeDir)
	if len(base.configMaps) != 1 {
		t.Fatalf("the base has %d ConfigMaps; want 1", len(base.configMaps))
	}
	baseData := base.configMaps[0].Data
	inSecrets := map[string]string{} // variable -> component
	for component, s := range v.Secrets {
		if !slices.Contains([]string{"worker", "api", "dashboard"}, component) {
			t.Errorf("secrets.%s: not a component", component)
		}
		for k := range s.Values {
			checkKnown(t, "secrets."+component+".values", k)
			if prev, ok := inSecrets[k]; ok {
				t.Errorf("%s is under secrets.%s and secrets.%s", k, prev, component)
			}
			inSecrets[k] = component
		}
	}
	for k := range v.Config {
		checkKnown(t, "config", k)
	}
	for _, vr := range config.Variables() {
		cv, inConfig := v.Config[vr.Name]
		_, inSecret := inSecrets[vr.Name]
		switch {
		case vr.Secret && inConfig:
			t.Errorf("config.%s: a secret in the ConfigMap's values; it belongs under secrets", vr.Name)
		case !inConfig && !inSecret:
			t.Errorf("%s has no key in values.yaml (config, or secrets.COMPONENT.values)", vr.Name)
		case inConfig && inSecret:
			t.Errorf("%s is under config and secrets.%s", vr.Name, inSecrets[vr.Name])
		case inConfig:
			s, ok := cv.(string)
			if !ok {
				t.Errorf("config.%s is %T %v; quote it: the ConfigMap holds strings", vr.Name, cv, cv)
				continue
			}
			want, inBase := baseData[vr.Name]
			if !inBase {
				want = vr.Default
			}
			if s != want {
				t.Errorf("config.%s is %q; want %q, the %s", vr.Name, s, want,
					map[bool]string{true: "kustomize base's", false: "program's default"}[inBase])
			}
		}
	}
	for component, s := range v.Secrets {
		for k, val := range s.Values {
			if val != "" {
				t.Errorf("secrets.%s.values.%s has a default: values.yaml holds no credentials", component, k)
			}
		}
	}
}

// TestChartReplicas: without an autoscaler the chart sets the worker's
// replicas; with one it leaves them to it (TestKubernetesAutoscaling).
func TestChartReplicas(t *testing.T) {
	helmBin(t)
	m := chartBuild(t, map[string]any{"worker": map[string]any{"replicas": 3}})
	w := find(m.deployments, "noderemover-worker")
	if w == nil || w.Spec.Replicas == nil || *w.Spec.Replicas != 3 {
		t.Errorf("worker replicas %v; want worker.replicas, 3, without an autoscaler", w)
	}
	if len(m.scaledObjects)+len(m.hpas) != 0 {
		t.Errorf("defaults render %v; want no autoscaler", m.names())
	}
}

// TestChartSecrets: secret values reach a Secret of the component's own,
// never the ConfigMap; values that cannot work are refused at render.
func TestChartSecrets(t *testing.T) {
	helmBin(t)
	t.Run("FromValues", func(t *testing.T) {
		m := chartBuild(t, map[string]any{"secrets": map[string]any{"worker": map[string]any{
			"existingSecret": "",
			"values":         map[string]any{"HUAWEICLOUD_SDK_AK": "REPLACE_ME", "HUAWEICLOUD_SDK_SK": "REPLACE_ME"},
		}}})
		s := find(m.secrets, "noderemover-worker")
		if s == nil || len(m.secrets) != 1 {
			t.Fatalf("objects %v; want the Secret noderemover-worker alone", m.names())
		}
		if got := slices.Sorted(maps.Keys(secretValues(s))); !slices.Equal(got, []string{"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK"}) {
			t.Errorf("Secret keys %v; want the non-empty values only", got)
		}
		for _, d := range m.deployments {
			for _, src := range d.Spec.Template.Spec.Containers[0].EnvFrom {
				if src.SecretRef != nil && src.SecretRef.Name == s.Name && d.Name != "noderemover-worker" {
					t.Errorf("Deployment/%s reads the worker's Secret", d.Name)
				}
			}
		}
		for k := range m.configMaps[0].Data {
			if _, ok := secretValues(s)[k]; ok {
				t.Errorf("the ConfigMap holds %s too", k)
			}
		}
		procs := processes(t, m, append(templateSecrets(t), m.secrets...))
		for _, p := range procs {
			if p.sub == "worker" && (p.cfgErr != nil || p.cfg.CredentialSource() != config.SourceKeys) {
				t.Errorf("the worker: credential source %s, error %v; want AK/SK from the chart's Secret", p.cfg.CredentialSource(), p.cfgErr)
			}
		}
	})

	type refused struct {
		name   string
		values map[string]any
		want   string // in helm's error
	}
	var cases []refused
	for _, v := range config.Variables() {
		if v.Secret {
			cases = append(cases, refused{"SecretInConfig/" + v.Name,
				map[string]any{"config": map[string]any{v.Name: "REPLACE_ME_0123456789abcdef"}}, "config." + v.Name + " is a secret"})
		}
	}
	for _, tc := range append(cases, []refused{
		{"ExistingAndValues", map[string]any{"secrets": map[string]any{"api": map[string]any{
			"values": map[string]any{"API_TOKENS": "REPLACE_ME_0123456789abcdef"}}}}, "existingSecret \"noderemover-api\" and values"},
		{"TwoAutoscalers", merge(everything, map[string]any{"autoscaling": map[string]any{"hpa": map[string]any{"enabled": true}}}), "enable one autoscaler"},
		{"ZeroReplicas", map[string]any{"autoscaling": map[string]any{"minReplicas": 0}}, "/autoscaling/minReplicas"},
		{"WorkloadIdentityWithoutProvider", map[string]any{"workloadIdentity": map[string]any{"enabled": true}}, "identityProviderID"},
		{"WorkloadIdentityAndKeys", merge(everything, map[string]any{"secrets": map[string]any{"worker": map[string]any{
			"values": map[string]any{"HUAWEICLOUD_SDK_SK": "REPLACE_ME"}}}}), "two credential sources"},
		{"KEDAWithSentinel", merge(everything, map[string]any{"config": map[string]any{
			"REDIS_URL": "redis-sentinel://a:26379?master=m"}}), "single Redis"},
	}...) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helmTemplate(t, tc.values)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("helm template: %v; want an error saying %q", err, tc.want)
			}
		})
	}

	t.Run("KEDAFollowsREDIS_URL", func(t *testing.T) {
		m := chartBuild(t, merge(everything, map[string]any{"config": map[string]any{
			"REDIS_URL": "rediss://redis.example:6380/3", "WORKER_CONCURRENCY": "7"}}))
		md := m.scaledObjects[0].Spec.Triggers[0].Metadata
		want := map[string]string{"address": "redis.example:6380", "databaseIndex": "3", "enableTLS": "true",
			"listName": "asynq:{removals}:pending", "listLength": "7"}
		if !reflect.DeepEqual(md, want) {
			t.Errorf("trigger metadata %v; want %v", md, want)
		}
	})
}

// TestChartMonitoring: the ServiceMonitor scrapes the workers' /metrics
// through a Service that reaches their pods, and the PrometheusRule holds
// files/rules.yaml, a copy of deployments/prometheus/rules.yaml.
func TestChartMonitoring(t *testing.T) {
	helmBin(t)
	if m := chartBuild(t, nil); len(m.monitors)+len(m.rules) != 0 {
		t.Errorf("the defaults render %v; want no monitoring objects (their CRDs may be missing)", m.names())
	}
	m := chartBuild(t, everything)
	w := find(m.deployments, "noderemover-worker")
	if w == nil {
		t.Fatal("no worker Deployment")
	}

	t.Run("ServiceMonitor", func(t *testing.T) {
		if len(m.monitors) != 1 {
			t.Fatalf("%d ServiceMonitors; want 1", len(m.monitors))
		}
		sm := m.monitors[0]
		if sm.Labels["release"] != "prometheus" {
			t.Errorf("labels %v; serviceMonitor.labels are missing", sm.Labels)
		}
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Fatalf("selector %v: %v", sm.Spec.Selector, err)
		}
		var svcs []*corev1.Service
		for _, s := range m.services {
			if sel.Matches(labels.Set(s.Labels)) {
				svcs = append(svcs, s)
			}
		}
		if len(svcs) != 1 || !labels.SelectorFromSet(svcs[0].Spec.Selector).Matches(labels.Set(w.Spec.Template.Labels)) {
			t.Fatalf("the ServiceMonitor selects Services %d; want one that selects the worker's pods", len(svcs))
		}
		if len(sm.Spec.Endpoints) != 1 {
			t.Fatalf("endpoints %+v; want 1", sm.Spec.Endpoints)
		}
		ep := sm.Spec.Endpoints[0]
		if ep.Path != health.MetricsPath {
			t.Errorf("endpoint path %q; want %s", ep.Path, health.MetricsPath)
		}
		if !slices.ContainsFunc(svcs[0].Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
			t.Errorf("endpoint port %q is not a port of Service/%s", ep.Port, svcs[0].Name)
		}
	})

	t.Run("PrometheusRule", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(chartDir, "files", "rules.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var file ruleFile
		if err := decodeStrict(data, &file); err != nil {
			t.Fatalf("files/rules.yaml: %v", err)
		}
		if len(file.Groups) == 0 || len(file.Groups[0].Rules) == 0 {
			t.Error("files/rules.yaml holds no rule")
		}
		if len(m.rules) != 1 {
			t.Fatalf("%d PrometheusRules; want 1", len(m.rules))
		}
		if !reflect.DeepEqual(m.rules[0].Spec, file) {
			t.Errorf("the PrometheusRule's spec %+v; files/rules.yaml holds %+v", m.rules[0].Spec, file)
		}
	})

	t.Run("RulesAreACopy", func(t *testing.T) {
		want, err := os.ReadFile(prometheusRulesFile)
		if errors.Is(err, os.ErrNotExist) {
			t.Skipf("%s does not exist yet: nothing to compare files/rules.yaml with", prometheusRulesFile)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir, "files", "rules.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s/files/rules.yaml differs from %s; copy it: cp deployments/%s deployments/%s/files/rules.yaml",
				chartDir, prometheusRulesFile, prometheusRulesFile, chartDir)
		}
	})
}

// TestChartValuesSchema: values.schema.json names every variable under
// config and the keys of values.yaml under secrets, so that helm refuses a
// misspelled one, which noderemover would silently ignore.
func TestChartValuesSchema(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	type props struct {
		Properties           map[string]json.RawMessage `json:"properties"`
		AdditionalProperties *bool                      `json:"additionalProperties"`
	}
	var schema struct {
		Properties struct {
			Config  props `json:"config"`
			Secrets struct {
				Properties map[string]struct {
					Properties struct {
						Values props `json:"values"`
					} `json:"properties"`
				} `json:"properties"`
			} `json:"secrets"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range config.Variables() {
		names = append(names, v.Name)
	}
	cfg := schema.Properties.Config
	if got := slices.Sorted(maps.Keys(cfg.Properties)); !slices.Equal(got, slices.Sorted(slices.Values(names))) {
		t.Errorf("the schema's config names %v; want every variable, %v", got, names)
	}
	if cfg.AdditionalProperties == nil || *cfg.AdditionalProperties {
		t.Error("the schema's config allows names it does not list")
	}
	for component, s := range loadChartValues(t).Secrets {
		sv := schema.Properties.Secrets.Properties[component].Properties.Values
		if got, want := slices.Sorted(maps.Keys(sv.Properties)), slices.Sorted(maps.Keys(s.Values)); !slices.Equal(got, want) {
			t.Errorf("the schema's secrets.%s.values names %v; values.yaml has %v", component, got, want)
		}
		if sv.AdditionalProperties == nil || *sv.AdditionalProperties {
			t.Errorf("the schema's secrets.%s.values allows names it does not list", component)
		}
	}

	helmBin(t)
	for name, values := range map[string]map[string]any{
		"ConfigTypo": {"config": map[string]any{"REDIS_ULR": "redis://redis:6379/0"}},
		"SecretTypo": {"secrets": map[string]any{"api": map[string]any{"values": map[string]any{"API_TOKEN": "x"}}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := helmTemplate(t, values); err == nil || !strings.Contains(err.Error(), "additional properties") {
				t.Errorf("helm template: %v; want the schema to refuse the name", err)
			}
		})
	}
}
