package deployments

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/noderemover/noderemover/config"
)

// kube is what the Kubernetes tests check: one way of deploying (the
// kustomize base, or the Helm chart with some values), the same with the
// HPA instead of KEDA, the Secrets its containers read, and every container
// with the environment it gets.
type kube struct {
	name string
	// namespace is what every object's metadata.namespace must be: none for
	// the base, the release's for the chart.
	namespace string
	base, hpa *manifest
	// secrets are the Secrets envFrom may name: the template's (created out
	// of band) and those the build creates itself.
	secrets []*corev1.Secret
	procs   []process
	subs    map[string]bool
}

func loadKube(tb testing.TB) kube {
	tb.Helper()
	k := kube{
		name:    "Kustomize",
		base:    kustomizeBuild(tb, kubeDir),
		hpa:     buildOverlay(tb, "", hpaComponent),
		secrets: templateSecrets(tb),
		subs:    subcommands(tb),
	}
	k.procs = processes(tb, k.base, k.secrets)
	return k
}

// loadChart renders the chart with values, and with the HPA instead of KEDA.
func loadChart(tb testing.TB, name string, values map[string]any) kube {
	tb.Helper()
	k := kube{
		name:      name,
		namespace: chartNamespace,
		base:      chartBuild(tb, values),
		hpa:       chartBuild(tb, merge(values, withHPA)),
		subs:      subcommands(tb),
	}
	k.secrets = append(templateSecrets(tb), k.base.secrets...)
	k.procs = processes(tb, k.base, k.secrets)
	return k
}

// kubes returns every way of deploying that the Kubernetes checks hold to
// one standard: the kustomize base, and the chart with its default values
// and with every optional feature on. The chart needs helm: without
// NODEREMOVER_KUBE_BIN only the base is checked.
func kubes(tb testing.TB) []kube {
	tb.Helper()
	out := []kube{loadKube(tb)}
	if os.Getenv(kubeBinEnv) == "" {
		tb.Logf("%s is unset: the Helm chart is not rendered", kubeBinEnv)
		return out
	}
	return append(out, loadChart(tb, "ChartDefaults", nil), loadChart(tb, "ChartEverything", everything))
}

// worker returns the worker's container, of which there must be one.
func (k kube) worker(tb testing.TB) process {
	tb.Helper()
	var found []process
	for _, p := range k.procs {
		if p.sub == "worker" {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		tb.Fatalf("%d worker containers; want 1", len(found))
	}
	return found[0]
}

// placeholder is what a value in the Secret template may be.
var placeholder = regexp.MustCompile(`^REPLACE_ME(_[A-Z0-9]+)*$`)

// TestKubernetesConfig checks what each process is given: names, values,
// secrets and subcommands.
func TestKubernetesConfig(t *testing.T) {
	for _, k := range kubes(t) {
		t.Run(k.name, func(t *testing.T) { checkConfig(t, k) })
	}
}

func checkConfig(t *testing.T, k kube) {
	t.Run("Namespace", func(t *testing.T) {
		for _, meta := range k.base.objectMetas() {
			if meta.Namespace != k.namespace {
				t.Errorf("%s sets namespace %q; want %q (the base is namespace-agnostic, the chart's objects are in the release's)",
					meta.Name, meta.Namespace, k.namespace)
			}
		}
	})

	t.Run("OneImageForEverySubcommand", func(t *testing.T) {
		images := map[string]bool{}
		for _, p := range k.procs {
			images[p.c.Image] = true
		}
		if len(images) != 1 {
			t.Errorf("images %v; want the one noderemover image", images)
		}
	})

	t.Run("Subcommands", func(t *testing.T) {
		for _, p := range k.procs {
			if len(p.c.Command) > 0 {
				t.Errorf("%s: command %q replaces the image's ENTRYPOINT; give the subcommand as args", p.where, p.c.Command)
			}
			if !k.subs[p.sub] {
				t.Errorf("%s: args %q do not start with a subcommand of noderemover", p.where, p.c.Args)
				continue
			}
			if _, ok := servers[p.sub]; !ok {
				t.Errorf("%s: %s is not a subcommand that serves (%v)", p.where, p.sub, slices.Sorted(maps.Keys(servers)))
			}
			if len(p.c.Args) != 1 {
				t.Errorf("%s: args %q: configure through the environment, which the tests check, not flags", p.where, p.c.Args)
			}
		}
	})

	t.Run("EnvNamesAreKnown", func(t *testing.T) {
		for _, p := range k.procs {
			checkKnown(t, p.where, p.keys...)
		}
		for _, cm := range k.base.configMaps {
			checkKnown(t, "ConfigMap/"+cm.Name, slices.Sorted(maps.Keys(cm.Data))...)
		}
		for _, s := range k.secrets {
			checkKnown(t, "Secret/"+s.Name, slices.Sorted(maps.Keys(secretValues(s)))...)
		}
	})

	t.Run("ConfigMapHoldsNoSecrets", func(t *testing.T) {
		for _, cm := range k.base.configMaps {
			if len(cm.BinaryData) > 0 {
				t.Errorf("ConfigMap/%s has binaryData", cm.Name)
			}
			for k, v := range cm.Data {
				if isSecretVar(k) {
					t.Errorf("ConfigMap/%s holds %s, a secret: it belongs in a Secret", cm.Name, k)
				}
				if k == "REDIS_URL" {
					if target, err := config.ParseRedisURL(v); err == nil && target.Password != "" {
						t.Errorf("ConfigMap/%s: REDIS_URL holds a password: put the URL in the Secrets", cm.Name)
					}
				}
			}
		}
	})

	t.Run("SecretTemplateHoldsPlaceholdersOnly", func(t *testing.T) {
		if len(k.secrets) == 0 {
			t.Fatalf("%s describes no Secret", secretFile)
		}
		// The chart's own Secrets are checked too: the tests render them
		// from placeholders.
		for _, s := range k.secrets {
			if len(s.Data) > 0 {
				t.Errorf("Secret/%s has data: the template keeps placeholders in stringData only", s.Name)
			}
			if s.Type != "" && s.Type != corev1.SecretTypeOpaque {
				t.Errorf("Secret/%s type %s; want Opaque", s.Name, s.Type)
			}
			for k, v := range s.StringData {
				if !placeholder.MatchString(v) {
					t.Errorf("Secret/%s: %s is %d characters that are not a placeholder (%s): never commit a real value",
						s.Name, k, len(v), placeholder)
				}
			}
		}
	})

	t.Run("ProcessesLoadTheirConfig", func(t *testing.T) {
		for _, p := range k.procs {
			if p.cfgErr != nil {
				t.Errorf("%s: noderemover %s would not start with this environment (placeholders filled in): %v", p.where, p.sub, p.cfgErr)
			}
		}
	})

	t.Run("DashboardAuthOffLoopback", func(t *testing.T) {
		n := 0
		for _, p := range k.procs {
			if p.sub == "dashboard" && p.cfgErr == nil {
				n++
				checkDashboardAuth(t, p.where, p.cfg, p.env)
			}
		}
		if n == 0 {
			t.Error("no dashboard container to check")
		}
	})
}
