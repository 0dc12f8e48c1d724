package drain_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/noderemover/noderemover/internal/drain"
	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// limit bounds every wait on the cluster: two shared cores are slow.
const limit = 90 * time.Second

// hostname is the label AddNode's Nodes carry here, for spreading Pods.
const hostname = "kubernetes.io/hostname"

// cluster is what a test of the drain works with: an admin client, its
// own namespace, and the group label its Nodes carry so its Pods land on
// them and nowhere else.
type cluster struct {
	cp    *kubetest.ControlPlane
	c     kubernetes.Interface
	ns    string
	group string // the value of the label "drain-test" on the test's Nodes
}

// newCluster gives the test a namespace and a Node group of its own on the
// shared control plane.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	cp := kubetest.Shared(t)
	return &cluster{cp: cp, c: cp.Client(t), ns: cp.Namespace(t), group: kubetest.Name(t, "g")}
}

// node adds a kwok Node of the test's group, its name unique and made of
// the test's and suffix.
func (k *cluster) node(t *testing.T, suffix, ip string) *corev1.Node {
	t.Helper()
	name := kubetest.Name(t, suffix)
	return k.cp.AddNode(t, name, ip, map[string]string{"drain-test": k.group, hostname: name})
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return c
}

// podSpec is a Pod that runs on the test's Nodes.
func (k *cluster) podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		NodeSelector: map[string]string{"drain-test": k.group},
		Containers:   []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}},
	}
}

// deployment creates a Deployment of replicas Pods labelled app=name,
// spread one per Node while Nodes are schedulable; edit changes its Pod
// template first.
func (k *cluster) deployment(t *testing.T, name string, replicas int32, edit func(*corev1.PodTemplateSpec)) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": name}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: k.podSpec()}
	honor := corev1.NodeInclusionPolicyHonor
	tmpl.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
		MaxSkew: 1, TopologyKey: hostname, WhenUnsatisfiable: corev1.DoNotSchedule,
		LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, NodeTaintsPolicy: &honor,
	}}
	if edit != nil {
		edit(&tmpl)
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: k.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: tmpl,
		},
	}
	d, err := k.c.AppsV1().Deployments(k.ns).Create(ctx(t), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s: %v", name, err)
	}
	return d
}

// pdb creates a PodDisruptionBudget over the Pods labelled app=app.
func (k *cluster) pdb(t *testing.T, name, app string, minAvailable int) {
	t.Helper()
	min := intstr.FromInt32(int32(minAvailable))
	p := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: k.ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &min,
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		},
	}
	if _, err := k.c.PolicyV1().PodDisruptionBudgets(k.ns).Create(ctx(t), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pdb %s: %v", name, err)
	}
}

// waitBudget waits until the disruption controller has looked at the
// budget and counts healthy Pods.
func (k *cluster) waitBudget(t *testing.T, name string, healthy int32) {
	t.Helper()
	testkit.WaitFor(t, limit, fmt.Sprintf("pdb %s with %d healthy pods", name, healthy), func() bool {
		p, err := k.c.PolicyV1().PodDisruptionBudgets(k.ns).Get(ctx(t), name, metav1.GetOptions{})
		return err == nil && p.Status.ObservedGeneration == p.Generation && p.Status.CurrentHealthy == healthy
	})
}

// bare creates a Pod with no controller bound to node.
func (k *cluster) bare(t *testing.T, name, node string, edit func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: k.ns}, Spec: k.podSpec()}
	p.Spec.NodeName = node
	if edit != nil {
		edit(p)
	}
	p, err := k.c.CoreV1().Pods(k.ns).Create(ctx(t), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return p
}

// pods returns the test's Pods on node matching label selector sel.
func (k *cluster) pods(t *testing.T, node, sel string) []corev1.Pod {
	t.Helper()
	list, err := k.c.CoreV1().Pods(k.ns).List(ctx(t), metav1.ListOptions{LabelSelector: sel, FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	return list.Items
}

// waitRunning waits until n Pods matching sel run on node.
func (k *cluster) waitRunning(t *testing.T, node, sel string, n int) []corev1.Pod {
	t.Helper()
	var running []corev1.Pod
	testkit.WaitFor(t, limit, fmt.Sprintf("%d pods %s running on %s", n, sel, node), func() bool {
		running = slices.DeleteFunc(k.pods(t, node, sel), func(p corev1.Pod) bool {
			return p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil
		})
		return len(running) == n
	})
	return running
}

// step is drain.Step that fails the test on an error.
func (k *cluster) step(t *testing.T, node string, o drain.Options) drain.Progress {
	t.Helper()
	p, err := drain.Step(ctx(t), k.c, node, o)
	if err != nil {
		t.Fatalf("step %s: %v (progress %+v)", node, err, p)
	}
	return p
}

// drained calls Step until it reports Done, and returns that Progress.
func (k *cluster) drained(t *testing.T, node string, o drain.Options) drain.Progress {
	t.Helper()
	var last drain.Progress
	testkit.WaitFor(t, limit, "node "+node+" drained", func() bool {
		last = k.step(t, node, o)
		return last.Done
	})
	return last
}

// cordon is drain.Cordon by owner "test", which must succeed.
func (k *cluster) cordon(t *testing.T, node string) {
	t.Helper()
	ok, err := drain.Cordon(ctx(t), k.c, node, "test")
	if err != nil || !ok {
		t.Fatalf("cordon %s: %v, %v", node, ok, err)
	}
}

// blockedBy returns the reason Progress gives for the Pod (or object)
// named prefix, or "".
func blockedBy(p drain.Progress, name string) string {
	for _, b := range p.BlockedBy {
		if rest, ok := strings.CutPrefix(b, name+": "); ok {
			return rest
		}
	}
	return ""
}

func notFound(err error) bool { return apierrors.IsNotFound(err) }
