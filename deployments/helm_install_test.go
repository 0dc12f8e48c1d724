package deployments

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// installValues are every feature whose kinds a plain control plane knows:
// the HPA (not KEDA's ScaledObject), workload identity's ServiceAccount and
// the chart's own Secrets; no ServiceMonitor or PrometheusRule, whose CRDs
// it has not.
var installValues = merge(everything, withHPA, map[string]any{
	"serviceMonitor": map[string]any{"enabled": false},
	"prometheusRule": map[string]any{"enabled": false},
})

// TestHelmInstall installs the chart with `helm install --kubeconfig` into
// the tests' control plane and checks that the API server took every
// object `helm template` renders, the Deployments as rendered and seen by
// the deployment controller, and that `helm uninstall` removes them.
func TestHelmInstall(t *testing.T) {
	helmBin(t)
	cp := kubetest.Shared(t)
	ns := cp.Namespace(t)
	kubeconfig := writeKubeconfig(t, cp)
	values := valuesFile(t, installValues)

	out, err := runHelm(t, append([]string{"template", chartRelease, chartDir, "--namespace", ns}, values...)...)
	if err != nil {
		t.Fatal(err)
	}
	want := &manifest{}
	for _, doc := range splitDocs(t, []byte(out)) {
		want.add(t, "helm template", doc)
	}
	if len(want.deployments) != 3 || len(want.hpas) != 1 || len(want.accounts) != 1 || len(want.secrets) != 2 {
		t.Fatalf("helm template renders %v; want 3 Deployments, the HPA, the ServiceAccount and 2 Secrets", want.names())
	}

	installed, err := runHelm(t, append([]string{"install", chartRelease, chartDir, "--namespace", ns, "--kubeconfig", kubeconfig}, values...)...)
	if err != nil {
		t.Fatal(err)
	}
	// NOTES.txt names the API's Service and how to reach the dashboard.
	for _, want := range []string{"noderemover-api:8080", "port-forward svc/noderemover-dashboard 8081"} {
		if !strings.Contains(installed, want) {
			t.Errorf("helm install says\n%s\nwithout %q", installed, want)
		}
	}
	status, err := runHelm(t, "status", chartRelease, "--namespace", ns, "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "STATUS: deployed") {
		t.Errorf("helm status:\n%s", status)
	}

	c := cp.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	get := metav1.GetOptions{}
	gets := map[string]func(name string) error{
		"ConfigMap": func(n string) error { _, err := c.CoreV1().ConfigMaps(ns).Get(ctx, n, get); return err },
		"Secret":    func(n string) error { _, err := c.CoreV1().Secrets(ns).Get(ctx, n, get); return err },
		"Service":   func(n string) error { _, err := c.CoreV1().Services(ns).Get(ctx, n, get); return err },
		"ServiceAccount": func(n string) error {
			_, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, n, get)
			return err
		},
		"PodDisruptionBudget": func(n string) error {
			_, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, n, get)
			return err
		},
		"HorizontalPodAutoscaler": func(n string) error {
			_, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, n, get)
			return err
		},
		"Deployment": func(n string) error { _, err := c.AppsV1().Deployments(ns).Get(ctx, n, get); return err },
	}
	for _, kn := range want.names() {
		kind, name, _ := strings.Cut(kn, "/")
		g, ok := gets[kind]
		if !ok {
			t.Errorf("%s: the test does not know how to look a %s up", kn, kind)
			continue
		}
		if err := g(name); err != nil {
			t.Errorf("%s in namespace %s after helm install: %v", kn, ns, err)
		}
	}

	for _, d := range want.deployments {
		got, err := c.AppsV1().Deployments(ns).Get(ctx, d.Name, get)
		if err != nil {
			t.Errorf("Deployment/%s: %v", d.Name, err)
			continue
		}
		ws, gs := d.Spec.Template.Spec, got.Spec.Template.Spec
		if !reflect.DeepEqual(gs.SecurityContext, ws.SecurityContext) || !reflect.DeepEqual(gs.Containers[0].SecurityContext, ws.Containers[0].SecurityContext) ||
			gs.ServiceAccountName != ws.ServiceAccountName || !reflect.DeepEqual(gs.AutomountServiceAccountToken, ws.AutomountServiceAccountToken) {
			t.Errorf("Deployment/%s as stored differs from the rendered one:\n%s\nrendered:\n%s", d.Name, asYAML(gs), asYAML(ws))
		}
		// The deployment controller has read it: the API server took a
		// Deployment it can act on, not just stored bytes.
		testkit.WaitFor(t, time.Minute, "Deployment/"+d.Name+" observed by the deployment controller", func() bool {
			cur, err := c.AppsV1().Deployments(ns).Get(ctx, d.Name, get)
			return err == nil && cur.Status.ObservedGeneration >= cur.Generation
		})
	}

	if _, err := runHelm(t, "uninstall", chartRelease, "--namespace", ns, "--kubeconfig", kubeconfig); err != nil {
		t.Fatal(err)
	}
	for _, d := range want.deployments {
		testkit.WaitFor(t, time.Minute, "Deployment/"+d.Name+" deleted by helm uninstall", func() bool {
			_, err := c.AppsV1().Deployments(ns).Get(ctx, d.Name, get)
			return apierrors.IsNotFound(err)
		})
	}
}

// writeKubeconfig writes an admin kubeconfig of cp for helm.
func writeKubeconfig(tb testing.TB, cp *kubetest.ControlPlane) string {
	tb.Helper()
	kc, err := cp.Kubeconfig("helm", []string{"system:masters"}, time.Now().Add(time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
