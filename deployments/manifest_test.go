package deployments

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const (
	kubeDir      = "kubernetes"
	hpaComponent = "hpa" // under kubeDir
	// workloadIdentityComponent is the worker with workload identity.
	workloadIdentityComponent = "workload-identity"
	// controllerComponent adds noderemover controller and its RBAC.
	controllerComponent = "controller"
	secretFile          = "secret.yaml" // a template, not in the kustomization
)

// kustomizeConfig is the transformer configuration kustomizeconfig.yaml
// holds (kustomize's own type is internal).
type kustomizeConfig struct {
	NameReference []struct {
		Kind       string `json:"kind"`
		Group      string `json:"group,omitempty"`
		Version    string `json:"version,omitempty"`
		FieldSpecs []struct {
			Kind    string `json:"kind"`
			Group   string `json:"group,omitempty"`
			Version string `json:"version,omitempty"`
			Path    string `json:"path"`
		} `json:"fieldSpecs"`
	} `json:"nameReference"`
}

// manifest holds decoded objects by kind.
type manifest struct {
	deployments   []*appsv1.Deployment
	services      []*corev1.Service
	configMaps    []*corev1.ConfigMap
	secrets       []*corev1.Secret
	pdbs          []*policyv1.PodDisruptionBudget
	hpas          []*autoscalingv2.HorizontalPodAutoscaler
	scaledObjects []*scaledObject
	accounts      []*corev1.ServiceAccount
	monitors      []*serviceMonitor
	rules         []*prometheusRule
	clusterRoles  []*rbacv1.ClusterRole
	roleBindings  []*rbacv1.ClusterRoleBinding
}

// add decodes one object strictly into its API type, chosen by apiVersion
// and kind; any other kind fails.
func (m *manifest) add(tb testing.TB, where string, doc []byte) {
	tb.Helper()
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		tb.Errorf("%s: %v", where, err)
		return
	}
	var (
		obj  any
		meta *metav1.ObjectMeta
	)
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		o := &appsv1.Deployment{}
		obj, meta = o, &o.ObjectMeta
		defer func() { m.deployments = append(m.deployments, o) }()
	case "v1 Service":
		o := &corev1.Service{}
		obj, meta = o, &o.ObjectMeta
		defer func() { m.services = append(m.services, o) }()
	case "v1 ConfigMap":
		o := &corev1.ConfigMap{}
		obj, meta = o, &o.ObjectMeta
		defer func() { m.configMaps = append(m.configMaps, o) }()
	case "v1 Secret":
		o := &corev1.Secret{}
		obj, meta = o, &o.ObjectMeta
		defer func() { m.secrets = append(m.secrets, o) }()
	case "policy/v1 PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		obj, meta = o, &o.ObjectMeta
		defer func() { m.pdbs = append(m.pdbs, o) }()
	case "autoscaling/v2 HorizontalPodAutoscaler":
		o := &autoscalingv2.HorizontalPodAutoscaler{}
		obj, meta = o, &o.ObjectMeta
		defer func() { m.hpas = append(m.hpas, o) }()
	case "v1 ServiceAccount":
		o := &corev1.ServiceAccount{}
		obj, meta = o, &o.ObjectMeta
		defer func() { m.accounts = append(m.accounts, o) }()
	case "rbac.authorization.k8s.io/v1 ClusterRole":
		o := &rbacv1.ClusterRole{}
		obj, meta = o, &o.ObjectMeta
		defer func() { m.clusterRoles = append(m.clusterRoles, o) }()
	case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
		o := &rbacv1.ClusterRoleBinding{}
		obj, meta = o, &o.ObjectMeta
		defer func() { m.roleBindings = append(m.roleBindings, o) }()
	case "keda.sh/v1alpha1 ScaledObject":
		o := &scaledObject{}
		obj, meta = o, &o.ObjectMeta
		defer func() { m.scaledObjects = append(m.scaledObjects, o) }()
	case "monitoring.coreos.com/v1 ServiceMonitor":
		o := &serviceMonitor{}
		obj, meta = o, &o.ObjectMeta
		defer func() { m.monitors = append(m.monitors, o) }()
	case "monitoring.coreos.com/v1 PrometheusRule":
		o := &prometheusRule{}
		obj, meta = o, &o.ObjectMeta
		defer func() { m.rules = append(m.rules, o) }()
	default:
		tb.Fatalf("%s: apiVersion %q kind %q is not a kind the tests know; add it to manifest.add with its API type",
			where, tm.APIVersion, tm.Kind)
	}
	if err := decodeStrict(doc, obj); err != nil {
		tb.Fatalf("%s: %s %s: %v", where, tm.APIVersion, tm.Kind, err)
	}
	if meta.Name == "" {
		tb.Errorf("%s: %s without metadata.name", where, tm.Kind)
	}
}

// names lists kind/name of every object.
func (m *manifest) names() []string {
	var out []string
	add := func(kind string, metas ...metav1.ObjectMeta) {
		for _, o := range metas {
			out = append(out, kind+"/"+o.Name)
		}
	}
	for _, o := range m.deployments {
		add("Deployment", o.ObjectMeta)
	}
	for _, o := range m.services {
		add("Service", o.ObjectMeta)
	}
	for _, o := range m.configMaps {
		add("ConfigMap", o.ObjectMeta)
	}
	for _, o := range m.secrets {
		add("Secret", o.ObjectMeta)
	}
	for _, o := range m.pdbs {
		add("PodDisruptionBudget", o.ObjectMeta)
	}
	for _, o := range m.hpas {
		add("HorizontalPodAutoscaler", o.ObjectMeta)
	}
	for _, o := range m.scaledObjects {
		add("ScaledObject", o.ObjectMeta)
	}
	for _, o := range m.accounts {
		add("ServiceAccount", o.ObjectMeta)
	}
	for _, o := range m.monitors {
		add("ServiceMonitor", o.ObjectMeta)
	}
	for _, o := range m.rules {
		add("PrometheusRule", o.ObjectMeta)
	}
	for _, o := range m.clusterRoles {
		add("ClusterRole", o.ObjectMeta)
	}
	for _, o := range m.roleBindings {
		add("ClusterRoleBinding", o.ObjectMeta)
	}
	slices.Sort(out)
	return out
}

// objectMetas returns the metadata of every object.
func (m *manifest) objectMetas() []metav1.ObjectMeta {
	var out []metav1.ObjectMeta
	for _, o := range m.deployments {
		out = append(out, o.ObjectMeta)
	}
	for _, o := range m.services {
		out = append(out, o.ObjectMeta)
	}
	for _, o := range m.configMaps {
		out = append(out, o.ObjectMeta)
	}
	for _, o := range m.secrets {
		out = append(out, o.ObjectMeta)
	}
	for _, o := range m.pdbs {
		out = append(out, o.ObjectMeta)
	}
	for _, o := range m.hpas {
		out = append(out, o.ObjectMeta)
	}
	for _, o := range m.scaledObjects {
		out = append(out, o.ObjectMeta)
	}
	for _, o := range m.accounts {
		out = append(out, o.ObjectMeta)
	}
	for _, o := range m.monitors {
		out = append(out, o.ObjectMeta)
	}
	for _, o := range m.rules {
		out = append(out, o.ObjectMeta)
	}
	return out
}

// kustomizeBuild runs kustomize in process on dir, as `kubectl apply -k`
// would, and decodes the result.
func kustomizeBuild(tb testing.TB, dir string) *manifest {
	tb.Helper()
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		tb.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := &manifest{}
	for _, r := range resMap.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			tb.Fatal(err)
		}
		m.add(tb, fmt.Sprintf("kustomize build %s: %s/%s", dir, r.GetKind(), r.GetName()), doc)
	}
	return m
}

// buildOverlay builds an overlay of the base, as a user's own kustomization
// next to it would be: with namePrefix and the components under kubeDir.
func buildOverlay(tb testing.TB, namePrefix string, components ...string) *manifest {
	tb.Helper()
	dir := tb.TempDir()
	abs, err := filepath.Abs(kubeDir)
	if err != nil {
		tb.Fatal(err)
	}
	// kustomize wants relative paths for directories.
	base, err := filepath.Rel(dir, abs)
	if err != nil {
		tb.Fatal(err)
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
	if namePrefix != "" {
		k += "namePrefix: " + namePrefix + "\n"
	}
	k += "resources:\n  - " + filepath.ToSlash(base) + "\n"
	if len(components) > 0 {
		k += "components:\n"
		for _, c := range components {
			k += "  - " + filepath.ToSlash(filepath.Join(base, c)) + "\n"
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		tb.Fatal(err)
	}
	return kustomizeBuild(tb, dir)
}

// templateSecrets decodes secret.yaml, the Secrets created out of band.
func templateSecrets(tb testing.TB) []*corev1.Secret {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(kubeDir, secretFile))
	if err != nil {
		tb.Fatal(err)
	}
	m := &manifest{}
	for i, doc := range splitDocs(tb, data) {
		m.add(tb, fmt.Sprintf("%s document %d", secretFile, i+1), doc)
	}
	if got := len(m.names()); got != len(m.secrets) {
		tb.Fatalf("%s holds %v; want Secrets only", secretFile, m.names())
	}
	return m.secrets
}
