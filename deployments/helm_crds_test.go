package deployments

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// crdFiles are the CRDs of the optional kinds the chart renders, as module
// and file inside it; tools/crds/go.mod pins the modules.
var crdFiles = []struct{ module, file string }{
	{"github.com/kedacore/keda/v2", "config/crd/bases/keda.sh_scaledobjects.yaml"},
	{"github.com/prometheus-operator/prometheus-operator", "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"},
	{"github.com/prometheus-operator/prometheus-operator", "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"},
}

var (
	crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	// customGVRs are the chart's custom kinds, by kind.
	customGVRs = map[string]schema.GroupVersionResource{
		"ScaledObject":   {Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"},
		"ServiceMonitor": {Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"},
		"PrometheusRule": {Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"},
	}
)

// moduleDir is a module's directory in the module cache, as tools/crds
// pins it, downloaded when it is not there yet.
func moduleDir(tb testing.TB, module string) string {
	tb.Helper()
	dir := filepath.Join(repoRoot, "tools", "crds")
	run := func(args ...string) (string, error) {
		var stderr bytes.Buffer
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Stderr = dir, &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
	if out, err := run("list", "-m", "-f", "{{.Dir}}", module); err == nil && out != "" {
		return out
	}
	if _, err := run("mod", "download", module); err != nil {
		tb.Fatal(err)
	}
	out, err := run("list", "-m", "-f", "{{.Dir}}", module)
	if err != nil || out == "" {
		tb.Fatalf("module %s: no directory after go mod download: %v", module, err)
	}
	return out
}

// installCRDs creates the CRDs of crdFiles in cp (already there is fine:
// the control plane is shared) and waits until each is established.
func installCRDs(tb testing.TB, ctx context.Context, dyn dynamic.Interface) {
	tb.Helper()
	for _, f := range crdFiles {
		data, err := os.ReadFile(filepath.Join(moduleDir(tb, f.module), f.file))
		if err != nil {
			tb.Fatal(err)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &obj.Object); err != nil {
			tb.Fatalf("%s: %v", f.file, err)
		}
		_, err = dyn.Resource(crdGVR).Create(ctx, obj, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			tb.Fatalf("create CRD %s: %v", obj.GetName(), err)
		}
		testkit.WaitFor(tb, time.Minute, "CRD "+obj.GetName()+" established", func() bool {
			cur, err := dyn.Resource(crdGVR).Get(ctx, obj.GetName(), metav1.GetOptions{})
			if err != nil {
				return false
			}
			conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true
				}
			}
			return false
		})
	}
}

// TestHelmInstallWithCRDs installs the chart with every optional feature
// on (KEDA, ServiceMonitor, PrometheusRule, workload identity) into the
// tests' control plane once KEDA's and the Prometheus Operator's own CRDs
// are there, so their schemas judge the custom objects: each must be
// created, and hold what was rendered.
func TestHelmInstallWithCRDs(t *testing.T) {
	helmBin(t)
	cp := kubetest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dyn, err := dynamic.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	installCRDs(t, ctx, dyn)

	ns := cp.Namespace(t)
	kubeconfig := writeKubeconfig(t, cp)
	values := valuesFile(t, everything)
	out, err := runHelm(t, append([]string{"template", chartRelease, chartDir, "--namespace", ns}, values...)...)
	if err != nil {
		t.Fatal(err)
	}
	rendered := map[string]*unstructured.Unstructured{} // kind/name of the custom objects
	for _, doc := range splitDocs(t, []byte(out)) {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
			t.Fatal(err)
		}
		if _, ok := customGVRs[obj.GetKind()]; ok {
			rendered[obj.GetKind()+"/"+obj.GetName()] = obj
		}
	}
	if len(rendered) != len(customGVRs) {
		t.Fatalf("helm template renders custom objects %v; want one of each of %d kinds", len(rendered), len(customGVRs))
	}

	if _, err := runHelm(t, append([]string{"install", chartRelease, chartDir, "--namespace", ns, "--kubeconfig", kubeconfig}, values...)...); err != nil {
		t.Fatal(err)
	}
	for kn, want := range rendered {
		got, err := dyn.Resource(customGVRs[want.GetKind()]).Namespace(ns).Get(ctx, want.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Errorf("%s after helm install: %v", kn, err)
			continue
		}
		// The API server prunes fields its schema does not know; what
		// was rendered must all still be there.
		if missing := missingFields(want.Object["spec"], got.Object["spec"], "spec"); len(missing) > 0 {
			t.Errorf("%s: the API server dropped %v (not in the CRD's schema)", kn, missing)
		}
	}
	if _, err := runHelm(t, "uninstall", chartRelease, "--namespace", ns, "--kubeconfig", kubeconfig); err != nil {
		t.Fatal(err)
	}
}

// missingFields lists the paths of want that got does not hold with the
// same value (got may hold more: defaults the API server fills in).
func missingFields(want, got any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path}
		}
		var out []string
		for k, v := range w {
			out = append(out, missingFields(v, g[k], path+"."+k)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{path}
		}
		var out []string
		for i := range w {
			out = append(out, missingFields(w[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return []string{path}
		}
		return nil
	}
}
