package deployments

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	chartDir = "helm/noderemover"
	// chartRelease is the release the tests render: its objects are named
	// as the kustomize base's (noderemover-worker, ...).
	chartRelease   = "noderemover"
	chartNamespace = "noderemover-test"
	// kubeBinEnv names the directory tools/build.sh prints; `make test`
	// sets it, and helm is built there with the control plane.
	kubeBinEnv = "NODEREMOVER_KUBE_BIN"
)

// helmBin returns the helm CLI tools/build.sh built. It skips the test when
// NODEREMOVER_KUBE_BIN is unset, and fails it when the directory has no
// helm: a stale cache from before helm was pinned, or a broken build.
func helmBin(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv(kubeBinEnv)
	if dir == "" {
		tb.Skipf("%s is unset: run `make test`, or NODEREMOVER_KUBE_BIN=$(tools/build.sh) go test", kubeBinEnv)
	}
	bin := filepath.Join(dir, "helm")
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		tb.Fatalf("%s=%s has no executable helm (tools/build.sh builds it from tools/helm/go.mod): %v", kubeBinEnv, dir, err)
	}
	return bin
}

// runHelm runs helm with args in a home of its own (no user's repositories,
// plugins or kubeconfig), returning stdout; stderr goes into the error.
func runHelm(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	bin := helmBin(tb)
	home := tb.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// valuesFile writes values (nil: none) as a values file and returns the
// helm flags that pass it.
func valuesFile(tb testing.TB, values map[string]any) []string {
	tb.Helper()
	if values == nil {
		return nil
	}
	data, err := yaml.Marshal(values)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "values.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return []string{"--values", path}
}

// helmTemplate renders the chart as release chartRelease in chartNamespace
// with values over values.yaml, and returns the YAML stream.
func helmTemplate(tb testing.TB, values map[string]any) (string, error) {
	tb.Helper()
	args := append([]string{"template", chartRelease, chartDir, "--namespace", chartNamespace}, valuesFile(tb, values)...)
	return runHelm(tb, args...)
}

// chartBuild renders the chart and decodes every object strictly.
func chartBuild(tb testing.TB, values map[string]any) *manifest {
	tb.Helper()
	out, err := helmTemplate(tb, values)
	if err != nil {
		tb.Fatal(err)
	}
	m := &manifest{}
	for i, doc := range splitDocs(tb, []byte(out)) {
		m.add(tb, fmt.Sprintf("helm template document %d", i+1), doc)
	}
	return m
}

// merge returns the values of each map laid over the ones before, as helm
// merges values files: maps merge key by key, anything else replaces.
func merge(layers ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, l := range layers {
		for k, v := range l {
			if sub, ok := v.(map[string]any); ok {
				if prev, ok := out[k].(map[string]any); ok {
					out[k] = merge(prev, sub)
					continue
				}
				out[k] = merge(sub)
				continue
			}
			out[k] = v
		}
	}
	return out
}

// everything turns every optional feature of the chart on, and has the
// chart create the API's and the dashboard's Secrets from values
// (placeholders, as secret.yaml holds). The worker has workload identity,
// so no CCE Secret.
var everything = map[string]any{
	"autoscaling":      map[string]any{"keda": map[string]any{"enabled": true}},
	"serviceMonitor":   map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
	"prometheusRule":   map[string]any{"enabled": true},
	"workloadIdentity": map[string]any{"enabled": true, "identityProviderID": "REPLACE_ME_IDENTITY_PROVIDER_ID"},
	"secrets": map[string]any{
		"worker": map[string]any{"existingSecret": ""},
		"api": map[string]any{"existingSecret": "", "values": map[string]any{
			"API_TOKENS": "REPLACE_ME_WITH_TOKENS_OF_AT_LEAST_16_CHARACTERS"}},
		"dashboard": map[string]any{"existingSecret": "", "values": map[string]any{
			"DASHBOARD_USER": "REPLACE_ME", "DASHBOARD_PASSWORD": "REPLACE_ME"}},
	},
}

// withHPA swaps KEDA for the HPA.
var withHPA = map[string]any{
	"autoscaling": map[string]any{"keda": map[string]any{"enabled": false}, "hpa": map[string]any{"enabled": true}},
}

// TestHelmIsThePin: the helm the tests run is the one tools/helm/go.mod
// pins, so a cache built before a change of the pin is noticed.
func TestHelmIsThePin(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "tools", "helm", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var pin string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "helm.sh/helm/v3" {
			pin = f[1]
		}
	}
	if pin == "" || !strings.Contains(string(data), "\ntool helm.sh/helm/v3/cmd/helm\n") {
		t.Fatalf("tools/helm/go.mod does not pin helm.sh/helm/v3 as a tool")
	}
	out, err := runHelm(t, "version", "--template", "{{.Version}}")
	if err != nil {
		t.Fatal(err)
	}
	if out != pin {
		t.Errorf("helm version %q; tools/helm/go.mod pins %s (rebuild: tools/build.sh)", out, pin)
	}
}
