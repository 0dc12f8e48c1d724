package drain_test

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/noderemover/noderemover/internal/drain"
	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(kubetest.StopSharedAfter(m)) }

// TestStepWaitsForThePDB: the one Pod of a Deployment of 2 under
// minAvailable=2 on the drained Node is held back by the budget, named,
// without an Eviction call once the budget's status is current, until a
// third replica on the other Node lets it go; the DaemonSet's Pod stays,
// with its uid, and never counts.
func TestStepWaitsForThePDB(t *testing.T) {
	k := newCluster(t)
	a := k.node(t, "a", "10.88.1.1")
	b := k.node(t, "b", "10.88.1.2")
	k.deployment(t, "web", 2, nil)
	k.pdb(t, "web", "web", 2)
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: k.ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}}, Spec: k.podSpec()},
		},
	}
	if _, err := k.c.AppsV1().DaemonSets(k.ns).Create(ctx(t), ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web := k.waitRunning(t, a.Name, "app=web", 1)[0]
	k.waitRunning(t, b.Name, "app=web", 1)
	agent := k.waitRunning(t, a.Name, "app=agent", 1)[0]
	k.waitBudget(t, "web", 2)

	k.cordon(t, a.Name)
	p := k.step(t, a.Name, drain.Options{})
	t.Logf("under the budget: %+v", p)
	want := "PodDisruptionBudget " + k.ns + "/web allows no disruption now (needs 2 healthy Pods, has 2)"
	if p.Done || p.PodsLeft != 1 || blockedBy(p, k.ns+"/"+web.Name) != want || p.Refused != 0 || p.Evicted != 0 {
		t.Fatalf("step under the budget: %+v, want %s/%s: %s", p, k.ns, web.Name, want)
	}
	if p.Calls != 2 {
		t.Errorf("step under the budget made %d calls, want 2 (the Pods and the budgets listed, no eviction)", p.Calls)
	}
	if len(p.PDBs) != 1 || p.PDBs[0] != k.ns+"/web" {
		t.Errorf("PDBs = %v, want [%s/web]", p.PDBs, k.ns)
	}

	scale := []byte(`{"spec":{"replicas":3}}`)
	if _, err := k.c.AppsV1().Deployments(k.ns).Patch(ctx(t), "web", types.MergePatchType, scale, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	k.waitRunning(t, b.Name, "app=web", 2) // the cordoned Node gets none
	p = k.drained(t, a.Name, drain.Options{})
	if p.PodsLeft != 0 || len(p.BlockedBy) != 0 {
		t.Errorf("drained: %+v", p)
	}
	if got := k.pods(t, a.Name, "app=agent"); len(got) != 1 || got[0].UID != agent.UID {
		t.Errorf("DaemonSet pods on %s after the drain: %v, want the one with uid %s", a.Name, got, agent.UID)
	}
}

// TestStepCountsDownTheBudget: of 3 Pods on the Node under maxUnavailable=1,
// one pass evicts one and holds the other two back without asking, as the
// budget's status less that eviction allows no more.
func TestStepCountsDownTheBudget(t *testing.T) {
	k := newCluster(t)
	n := k.node(t, "a", "10.88.10.1")
	k.deployment(t, "web", 3, nil)
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: k.ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &one,
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
	if _, err := k.c.PolicyV1().PodDisruptionBudgets(k.ns).Create(ctx(t), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := k.waitRunning(t, n.Name, "app=web", 3)
	k.waitBudget(t, "web", 3)

	k.cordon(t, n.Name)
	p := k.step(t, n.Name, drain.Options{})
	t.Logf("one disruption allowed: %+v", p)
	if p.Evicted != 1 || p.Refused != 0 || p.Calls != 3 || p.PodsLeft != 3 || p.Done {
		t.Fatalf("step: %+v, want 1 evicted and no refusal in 3 calls (2 lists, 1 eviction)", p)
	}
	want := "PodDisruptionBudget " + k.ns + "/web allows no disruption now (needs 2 healthy Pods, has 3)"
	held := 0
	for _, pod := range pods {
		switch why := blockedBy(p, k.ns+"/"+pod.Name); {
		case why == want:
			held++
		case !strings.HasPrefix(why, "terminating (evicted"):
			t.Errorf("%s: %q, want terminating or %q", pod.Name, why, want)
		}
	}
	if held != 2 {
		t.Errorf("%d pods held back by the budget, want 2: %v", held, p.BlockedBy)
	}
	if len(p.PDBs) != 1 || p.PDBs[0] != k.ns+"/web" {
		t.Errorf("PDBs = %v, want [%s/web]", p.PDBs, k.ns)
	}
}

// TestStepHoldsBackPods: a Pod that may not go without an option is named
// with the option that lets it go, and goes with it; do-not-disrupt holds
// whatever the options.
func TestStepHoldsBackPods(t *testing.T) {
	emptyDir := func(tmpl *corev1.PodTemplateSpec) {
		tmpl.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	}
	doNotDisrupt := func(tmpl *corev1.PodTemplateSpec) {
		tmpl.Annotations = map[string]string{drain.DoNotDisrupt: "true"}
	}
	everything := drain.Options{Force: true, DeleteEmptyDirData: true}
	cases := []struct {
		name, ip string
		pod      func(t *testing.T, k *cluster, node string) string // makes the Pod, returns its name
		why      string
		allow    drain.Options
	}{
		{"NoController", "10.88.2.1", func(t *testing.T, k *cluster, node string) string {
			return k.bare(t, "debug", node, nil).Name
		}, "no controller (allow with force)", drain.Options{Force: true}},
		{"EmptyDir", "10.88.2.2", func(t *testing.T, k *cluster, node string) string {
			k.deployment(t, "cache", 1, emptyDir)
			return k.waitRunning(t, node, "app=cache", 1)[0].Name
		}, "emptyDir data would be lost (allow with delete_emptydir_data)", drain.Options{DeleteEmptyDirData: true}},
		{"DoNotDisrupt", "10.88.2.3", func(t *testing.T, k *cluster, node string) string {
			k.deployment(t, "batch", 1, doNotDisrupt)
			return k.waitRunning(t, node, "app=batch", 1)[0].Name
		}, "annotation karpenter.sh/do-not-disrupt=true holds it on the node", drain.Options{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := newCluster(t)
			n := k.node(t, "a", tc.ip)
			pod := tc.pod(t, k, n.Name)
			k.cordon(t, n.Name)
			o := drain.Options{}
			if tc.allow == (drain.Options{}) {
				o = everything // nothing lets it go
			}
			for range 2 {
				p := k.step(t, n.Name, o)
				if p.Done || p.PodsLeft != 1 || p.Evicted != 0 || p.Refused != 0 || blockedBy(p, k.ns+"/"+pod) != tc.why {
					t.Fatalf("step: %+v, want %s/%s: %s", p, k.ns, pod, tc.why)
				}
			}
			if tc.allow == (drain.Options{}) {
				return
			}
			if p := k.step(t, n.Name, tc.allow); p.Evicted != 1 {
				t.Errorf("step with %+v: %+v, want the pod evicted", tc.allow, p)
			}
			k.drained(t, n.Name, tc.allow)
		})
	}
}

// TestStepEvictsCriticalPodsLast: a system-critical Pod stays while an
// ordinary Pod is still there, even one that is terminating (a finalizer
// holds it), and goes once it is gone; the terminating Pod is not evicted
// again.
func TestStepEvictsCriticalPodsLast(t *testing.T) {
	k := newCluster(t)
	n := k.node(t, "a", "10.88.3.1")
	const finalizer = "noderemover.io/test"
	app := k.bare(t, "app", n.Name, func(p *corev1.Pod) { p.Finalizers = []string{finalizer} })
	dns := k.bare(t, "dns", n.Name, func(p *corev1.Pod) { p.Spec.PriorityClassName = "system-cluster-critical" })
	k.waitRunning(t, n.Name, "", 2)
	k.cordon(t, n.Name)
	force := drain.Options{Force: true}

	p := k.step(t, n.Name, force)
	if p.Evicted != 1 || p.PodsLeft != 2 || !strings.HasPrefix(blockedBy(p, k.ns+"/app"), "terminating (evicted") ||
		blockedBy(p, k.ns+"/dns") != "system-critical, evicted once the other Pods are gone" {
		t.Fatalf("first step: %+v", p)
	}
	p = k.step(t, n.Name, force)
	if p.Evicted != 0 || p.Refused != 0 || p.PodsLeft != 2 || !strings.HasPrefix(blockedBy(p, k.ns+"/app"), "terminating (evicted, grace period") {
		t.Fatalf("second step, app terminating: %+v", p)
	}
	if got, err := k.c.CoreV1().Pods(k.ns).Get(ctx(t), "dns", metav1.GetOptions{}); err != nil || got.UID != dns.UID || got.DeletionTimestamp != nil {
		t.Fatalf("critical pod while app terminates: %v, %v", got, err)
	}

	release := []byte(`{"metadata":{"finalizers":null}}`)
	if _, err := k.c.CoreV1().Pods(k.ns).Patch(ctx(t), "app", types.MergePatchType, release, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, limit, "app gone", func() bool {
		_, err := k.c.CoreV1().Pods(k.ns).Get(ctx(t), app.Name, metav1.GetOptions{})
		return notFound(err)
	})
	if p := k.step(t, n.Name, force); p.Evicted != 1 || p.PodsLeft != 1 {
		t.Errorf("step with only the critical pod left: %+v, want it evicted", p)
	}
	k.drained(t, n.Name, force)
}

// TestStepReportsPodUnderTwoBudgets: the Eviction API refuses a Pod two
// budgets select (500) whatever they allow; Step names it and both
// budgets, and does not ask again pass after pass.
func TestStepReportsPodUnderTwoBudgets(t *testing.T) {
	k := newCluster(t)
	n := k.node(t, "a", "10.88.4.1")
	k.deployment(t, "api", 1, nil)
	k.pdb(t, "api-team", "api", 0)
	k.pdb(t, "api-svc", "api", 0)
	pod := k.waitRunning(t, n.Name, "app=api", 1)[0]
	// No wait for the budgets' status: the disruption controller follows a
	// Pod under several budgets for one of them only, so the other's status
	// may not count it until a resync hours away; and the Eviction API
	// refuses such a Pod before it looks at any status.

	// What the real server says, so the pre-check is known to match it.
	err := k.c.CoreV1().Pods(k.ns).EvictV1(ctx(t), &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: k.ns}, DeleteOptions: &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "more than one PodDisruptionBudget") {
		t.Fatalf("eviction of a pod under two budgets: %v, want a 500", err)
	}

	k.cordon(t, n.Name)
	want := "under several PodDisruptionBudgets (" + k.ns + "/api-svc, " + k.ns + "/api-team), which the Eviction API refuses"
	for pass := range 2 {
		p := k.step(t, n.Name, drain.Options{})
		if p.Done || p.PodsLeft != 1 || p.Refused != 0 || p.Evicted != 0 || blockedBy(p, k.ns+"/"+pod.Name) != want || len(p.PDBs) != 2 {
			t.Fatalf("pass %d: %+v, want %s", pass, p, want)
		}
	}
}

// TestStepWaitsForVolumeDetach: with no Pod left, a VolumeAttachment of
// the Node that is attached keeps Done false, named, until it detaches.
func TestStepWaitsForVolumeDetach(t *testing.T) {
	k := newCluster(t)
	n := k.node(t, "a", "10.88.5.1")
	k.cordon(t, n.Name)
	pv := "pv-drain-volume"
	va := &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: "csi-drain-volume"},
		Spec: storagev1.VolumeAttachmentSpec{
			Attacher: "disk.csi.example.com",
			NodeName: n.Name,
			Source:   storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv},
		},
	}
	va, err := k.c.StorageV1().VolumeAttachments().Create(ctx(t), va, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k.c.StorageV1().VolumeAttachments().Delete(context.Background(), va.Name, metav1.DeleteOptions{})
	})
	setAttached := func(attached bool) {
		t.Helper()
		va.Status.Attached = attached
		got, err := k.c.StorageV1().VolumeAttachments().UpdateStatus(ctx(t), va, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		va = got
	}
	setAttached(true)

	p := k.step(t, n.Name, drain.Options{})
	if p.Done || p.PodsLeft != 0 || blockedBy(p, "VolumeAttachment csi-drain-volume") != "volume pv-drain-volume still attached to the node" {
		t.Fatalf("step with the volume attached: %+v", p)
	}
	setAttached(false)
	if p := k.step(t, n.Name, drain.Options{}); !p.Done || len(p.BlockedBy) != 0 || p.Calls != 2 {
		t.Errorf("step with the volume detached: %+v, want done in 2 calls", p)
	}
}

// TestStepDeletesFinishedPods: a Succeeded Pod does not hold the drain and
// is cleared away.
func TestStepDeletesFinishedPods(t *testing.T) {
	k := newCluster(t)
	n := k.node(t, "a", "10.88.6.1")
	k.bare(t, "job", n.Name, nil)
	pod := &k.waitRunning(t, n.Name, "", 1)[0]
	pod.Status.Phase = corev1.PodSucceeded
	if _, err := k.c.CoreV1().Pods(k.ns).UpdateStatus(ctx(t), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	k.cordon(t, n.Name)
	p := k.step(t, n.Name, drain.Options{}) // no Force: finished, it needs none
	if !p.Done || p.PodsLeft != 0 || p.Evicted != 1 {
		t.Errorf("step: %+v, want done with the finished pod evicted", p)
	}
	testkit.WaitFor(t, limit, "finished pod gone", func() bool {
		_, err := k.c.CoreV1().Pods(k.ns).Get(ctx(t), pod.Name, metav1.GetOptions{})
		return notFound(err)
	})
}
