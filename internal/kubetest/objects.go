package kubetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// image is what every container runs; kwok pulls nothing, so any name does.
const image = "registry.invalid/kubetest/pause:1"

// Name returns a name unique to this control plane's life for the test:
// prefix, the test's name and a random suffix, fit for a Namespace or a
// Node (a DNS label of at most 63 characters).
func Name(tb testing.TB, prefix string) string {
	tb.Helper()
	test := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, tb.Name())
	test = strings.Trim(test, "-")
	if len(test) > 40 {
		test = strings.Trim(test[:40], "-")
	}
	name := strings.Trim(prefix+"-"+test, "-") + "-" + strings.ToLower(rand.Text()[:6])
	if len(name) > 63 {
		name = name[len(name)-63:]
		name = strings.TrimLeft(name, "-")
	}
	return name
}

// Namespace creates a namespace of the test's own and returns its name.
// It is left in place when the test ends (the control plane runs no
// namespace controller to empty it); names never repeat.
func (cp *ControlPlane) Namespace(tb testing.TB) string {
	tb.Helper()
	ns := Name(tb, "kt")
	_, err := cp.Client(tb).CoreV1().Namespaces().Create(callCtx(tb),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kubetest: create namespace %s: %v", ns, err)
	}
	return ns
}

// Placement says where a workload's Pods may go.
type Placement struct {
	NodeSelector map[string]string // spec.nodeSelector
	Nodes        []string          // a required node affinity on these Node names
}

func (p Placement) apply(spec *corev1.PodSpec) {
	spec.NodeSelector = p.NodeSelector
	if len(p.Nodes) == 0 {
		return
	}
	// A field selector on metadata.name takes one value, so one term per
	// Node: terms are ORed.
	var terms []corev1.NodeSelectorTerm
	for _, n := range p.Nodes {
		terms = append(terms, corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{
			Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{n},
		}}})
	}
	spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
	}}
}

// Workload is what Deployment and DaemonSet make.
type Workload struct {
	Name      string
	Replicas  int32             // Deployment only; 0 is 1
	Labels    map[string]string // selector and Pod labels; app=Name when empty
	Placement Placement
	// TerminationGracePeriodSeconds is the Pods' grace; nil is the API's
	// default (30s). kwok deletes a Pod marked for deletion at once.
	TerminationGracePeriodSeconds *int64
	EmptyDir                      bool // a volume "scratch" of type emptyDir, mounted at /scratch
}

func (w Workload) labels() map[string]string {
	if len(w.Labels) > 0 {
		return w.Labels
	}
	return map[string]string{"app": w.Name}
}

// Selector is the workload's label selector as a string.
func (w Workload) Selector() string { return labels.SelectorFromSet(w.labels()).String() }

func (w Workload) template() corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: w.labels()},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "main", Image: image}},
			TerminationGracePeriodSeconds: w.TerminationGracePeriodSeconds,
		},
	}
	if w.EmptyDir {
		t.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		t.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
	}
	w.Placement.apply(&t.Spec)
	return t
}

// Deployment creates a Deployment and waits until all its replicas are
// Running and Ready.
func (cp *ControlPlane) Deployment(tb testing.TB, ns string, w Workload) *appsv1.Deployment {
	tb.Helper()
	replicas := max(w.Replicas, 1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: w.labels()},
			Template: w.template(),
		},
	}
	c := cp.Client(tb)
	d, err := c.AppsV1().Deployments(ns).Create(callCtx(tb), d, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kubetest: create deployment %s/%s: %v", ns, w.Name, err)
	}
	cp.waitFor(tb, fmt.Sprintf("deployment %s/%s available", ns, w.Name), func(ctx context.Context) (bool, string) {
		got, err := c.AppsV1().Deployments(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		d = got
		s := got.Status
		return s.ObservedGeneration >= got.Generation && s.UpdatedReplicas == replicas && s.AvailableReplicas == replicas,
			fmt.Sprintf("%+v", s)
	})
	cp.WaitPodsRunning(tb, ns, w.Selector(), int(replicas))
	return d
}

// DaemonSet creates a DaemonSet and waits until it has a Ready Pod on
// every Node it selects. Give it a Placement: on a shared control plane,
// other tests' Nodes are there too.
func (cp *ControlPlane) DaemonSet(tb testing.TB, ns string, w Workload) *appsv1.DaemonSet {
	tb.Helper()
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: w.labels()},
			Template: w.template(),
		},
	}
	c := cp.Client(tb)
	ds, err := c.AppsV1().DaemonSets(ns).Create(callCtx(tb), ds, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kubetest: create daemonset %s/%s: %v", ns, w.Name, err)
	}
	cp.waitFor(tb, fmt.Sprintf("daemonset %s/%s ready", ns, w.Name), func(ctx context.Context) (bool, string) {
		got, err := c.AppsV1().DaemonSets(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ds = got
		s := got.Status
		return s.ObservedGeneration >= got.Generation && s.DesiredNumberScheduled > 0 &&
			s.NumberReady == s.DesiredNumberScheduled && s.UpdatedNumberScheduled == s.DesiredNumberScheduled, fmt.Sprintf("%+v", s)
	})
	return ds
}

// Pod creates a bare Pod (no controller) bound to nodeName and waits until
// it is Running and Ready.
func (cp *ControlPlane) Pod(tb testing.TB, ns, name, nodeName string, podLabels map[string]string) *corev1.Pod {
	tb.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: podLabels},
		Spec:       corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "main", Image: image}}},
	}
	c := cp.Client(tb)
	if _, err := c.CoreV1().Pods(ns).Create(callCtx(tb), p, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("kubetest: create pod %s/%s: %v", ns, name, err)
	}
	cp.waitFor(tb, fmt.Sprintf("pod %s/%s running", ns, name), func(ctx context.Context) (bool, string) {
		got, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		p = got
		return podRunning(got), fmt.Sprintf("%+v", got.Status)
	})
	return p
}

// PDB is a PodDisruptionBudget to create: exactly one of MinAvailable and
// MaxUnavailable (intstr.FromInt32(1), intstr.FromString("50%")).
type PDB struct {
	Name           string
	Selector       map[string]string
	MinAvailable   *intstr.IntOrString
	MaxUnavailable *intstr.IntOrString
}

// PDB creates a PodDisruptionBudget and waits until the disruption
// controller has observed it and counts every Ready Pod it selects, so an
// Eviction is answered by the budget from then on.
func (cp *ControlPlane) PDB(tb testing.TB, ns string, b PDB) *policyv1.PodDisruptionBudget {
	tb.Helper()
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: b.Selector},
			MinAvailable:   b.MinAvailable,
			MaxUnavailable: b.MaxUnavailable,
		},
	}
	c := cp.Client(tb)
	pdb, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(callCtx(tb), pdb, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kubetest: create pdb %s/%s: %v", ns, b.Name, err)
	}
	selector := labels.SelectorFromSet(b.Selector).String()
	cp.waitFor(tb, fmt.Sprintf("pdb %s/%s observed", ns, b.Name), func(ctx context.Context) (bool, string) {
		got, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, b.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pdb = got
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for i := range pods.Items {
			if podRunning(&pods.Items[i]) {
				ready++
			}
		}
		s := got.Status
		return s.ObservedGeneration >= got.Generation && int(s.CurrentHealthy) == ready,
			fmt.Sprintf("%+v, %d ready pods", s, ready)
	})
	return pdb
}

// WaitPodsRunning waits until exactly n Pods in ns match selector, each
// Running, Ready and not being deleted, and returns them.
func (cp *ControlPlane) WaitPodsRunning(tb testing.TB, ns, selector string, n int) []corev1.Pod {
	tb.Helper()
	c := cp.Client(tb)
	var got []corev1.Pod
	cp.waitFor(tb, fmt.Sprintf("%d pods %s in %s running", n, selector, ns), func(ctx context.Context) (bool, string) {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		got = pods.Items
		var seen []string
		for i := range pods.Items {
			p := &pods.Items[i]
			if !podRunning(p) {
				seen = append(seen, fmt.Sprintf("%s: %s on %q deleting=%v", p.Name, p.Status.Phase, p.Spec.NodeName, p.DeletionTimestamp != nil))
			}
		}
		return len(pods.Items) == n && len(seen) == 0, fmt.Sprintf("%d pods, not running: %v", len(pods.Items), seen)
	})
	return got
}

// podRunning: Running, Ready, not being deleted.
func podRunning(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
