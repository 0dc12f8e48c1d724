package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// ourKeys is every key of ours with its value, as DUMP has it.
func (h *harness) ourKeys() map[string]string {
	h.tb.Helper()
	ctx := h.tb.Context()
	keys, err := h.rdb.Keys(ctx, "{noderemover}:*").Result()
	if err != nil {
		h.tb.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		out[k] = h.rdb.Dump(ctx, k).Val()
	}
	return out
}

func reasonsOf(d *enqueuer.DryRun) map[string]string {
	out := map[string]string{}
	for _, n := range d.Nodes {
		out[n.UID] = n.Verdict + ": " + strings.Join(n.Reasons, "; ")
	}
	return out
}

// TestDryRunSaysWhyAndChangesNothing: every reason a node would not go is
// named, node by node — busy in another request, a phase CCE cannot
// remove, not in the cluster, paused, over the minimum — and nothing is
// written: no record, no claim, no task, no call to CCE.
func TestDryRunSaysWhyAndChangesNothing(t *testing.T) {
	h := newHarness(t, withGuard("100%", 2))
	h.dumpLogsOnFailure()
	ctx := t.Context()
	const cluster = "dry-c"
	n := uids(0xd7, 5)
	h.fake.AddNodes(project, cluster, n[:4]...)
	h.fake.SetNodePhase(project, cluster, n[1], cce.NodeInstalling)
	if err := h.enq.Pause(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	h.enqueue(enqueuer.Request{ID: "holder", ClusterID: cluster, Nodes: []string{n[0]}})
	h.start()
	testkit.WaitFor(t, 20*time.Second, "the holder waits for the pause", func() bool {
		st, err := h.enq.Status(ctx, "holder")
		return err == nil && strings.HasPrefix(st.Waiting, "paused")
	})
	before, tasks := h.ourKeys(), h.taskCount()
	d, err := h.enq.Preflight(ctx, enqueuer.Request{ProjectID: project, ClusterID: cluster, Nodes: n, SSHKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	got := reasonsOf(d)
	want := map[string][]string{
		n[0]: {"blocked", "busy in request holder", "paused: cluster dry-c"},
		n[1]: {"blocked", "is Installing in CCE"},
		n[2]: {"blocked", "refused: would leave 1 nodes in cluster dry-c", "min_nodes is 2"},
		n[4]: {"blocked", "not in cluster dry-c"},
	}
	for uid, parts := range want {
		for _, p := range parts {
			if !strings.Contains(got[uid], p) {
				t.Errorf("%s: %q, want it to say %q", uid, got[uid], p)
			}
		}
	}
	if !d.DryRun || d.OK || len(d.Nodes) != 5 || d.Nodes[4].UID != n[4] {
		t.Errorf("dry run %+v", d)
	}
	after := h.ourKeys()
	if len(after) != len(before) {
		t.Errorf("keys before %d, after %d", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("the dry run changed %s", k)
		}
	}
	if got := h.taskCount(); got != tasks {
		t.Errorf("tasks before %d, after %d", tasks, got)
	}
	if n := h.fake.Calls(ccetest.OpRemoveNodes); n != 0 {
		t.Errorf("%d RemoveNode calls", n)
	}

	// Resumed, a request the cluster can take is ok.
	if err := h.enq.Resume(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	h.waitFinal("holder", 30*time.Second)
	if d, err := h.enq.Preflight(ctx, enqueuer.Request{ProjectID: project, ClusterID: cluster, Nodes: n[2:3], SSHKey: "k"}); err != nil ||
		!d.OK || d.Nodes[0].Verdict != enqueuer.VerdictOK || len(d.Nodes[0].Reasons) != 0 {
		t.Errorf("ok: %+v, %v", d, err)
	}
}

// TestDryRunWithoutWorker: no worker, no answer: ErrNoWorker within the
// caller's deadline, and the question is taken back.
func TestDryRunWithoutWorker(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	_, err := h.enq.Preflight(ctx, enqueuer.Request{ProjectID: project, ClusterID: "c", Nodes: uids(0xd8, 1), SSHKey: "k"})
	if !errors.Is(err, enqueuer.ErrNoWorker) || !strings.Contains(err.Error(), "is a worker running") {
		t.Fatalf("%v", err)
	}
	if keys := h.ourKeys(); len(keys) != 0 {
		t.Errorf("left %v", keys)
	}
}

// taskCount counts asynq's tasks of every state.
func (h *harness) taskCount() int {
	h.tb.Helper()
	qs, err := h.inspector().GetQueueInfo("removals")
	if err != nil {
		return 0
	}
	return qs.Size
}

// TestDryRunDrainCountsBudgetsOverTheRequest: one replica on each of two
// Nodes under a budget of one disruption: asked alone each Node would go;
// asked together both are blocked, the budget counted over both; a
// protected Node is named; nothing in Kubernetes or Redis changed.
func TestDryRunDrainCountsBudgetsOverTheRequest(t *testing.T) {
	d := newDrainCluster(t)
	pool := map[string]string{"pool": d.ns}
	u := uids(0xd9, 3)
	a, b, p := d.node(u[0], pool), d.node(u[1], pool), d.node(u[2], pool)
	if _, err := d.kc.CoreV1().Nodes().Patch(t.Context(), p.Name, "application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"noderemover.io/do-not-remove":"true"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// One replica on each Node: two Deployments, one budget over both.
	for i, n := range []string{a.Name, b.Name} {
		d.cp.Deployment(t, d.ns, kubetest.Workload{Name: fmt.Sprintf("web-%d", i), Replicas: 1,
			Labels: map[string]string{"app": "web", "part": strconv.Itoa(i)}, Placement: kubetest.Placement{Nodes: []string{n}}})
	}
	one := intstr.FromInt32(1)
	d.cp.PDB(t, d.ns, kubetest.PDB{Name: "web", Selector: map[string]string{"app": "web"}, MaxUnavailable: &one})
	d.cp.WaitPodsRunning(t, d.ns, "app=web", 2)
	testkit.WaitFor(t, 60*time.Second, "the budget sees both Pods", func() bool {
		pdb, err := d.kc.PolicyV1().PodDisruptionBudgets(d.ns).Get(t.Context(), "web", metav1.GetOptions{})
		return err == nil && pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.CurrentHealthy == 2
	})
	d.start()
	ask := func(nodes ...string) *enqueuer.DryRun {
		t.Helper()
		r, err := d.enq.Preflight(t.Context(), enqueuer.Request{ProjectID: project, ClusterID: d.cluster, Nodes: nodes,
			SSHKey: "k", Drain: &enqueuer.DrainOptions{}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := d.ourKeys()
	for _, uid := range u[:2] {
		if r := ask(uid); !r.OK {
			t.Errorf("%s alone: %+v", uid, r)
		}
	}
	r := ask(u...)
	got := reasonsOf(r)
	for _, uid := range u[:2] {
		if !strings.Contains(got[uid], "PodDisruptionBudget "+d.ns+"/web allows 1 disruptions now") || !strings.Contains(got[uid], "would evict 2 of its Pods") {
			t.Errorf("%s together: %s", uid, got[uid])
		}
	}
	if !strings.Contains(got[u[2]], "protected: Kubernetes Node "+p.Name+" has the annotation noderemover.io/do-not-remove=true") {
		t.Errorf("protected: %s", got[u[2]])
	}
	for _, n := range []string{a.Name, b.Name, p.Name} {
		if d.getNode(n).Spec.Unschedulable || slices.Contains(d.events(n), "Draining") {
			t.Errorf("the dry run touched Node %s", n)
		}
	}
	if after := d.ourKeys(); len(after) != len(before) {
		t.Errorf("keys before %v, after %v", before, after)
	}
	d.noKeyMaterial()
}

// TestProtectedNodeWithoutDrainIsRefused: a request that does not drain is
// still refused for a protected Node when the worker reaches the cluster's
// Kubernetes, before RemoveNode; its other node goes.
func TestProtectedNodeWithoutDrainIsRefused(t *testing.T) {
	d := newDrainCluster(t)
	u := uids(0xda, 2)
	p := d.node(u[0], nil)
	d.node(u[1], nil)
	if _, err := d.kc.CoreV1().Nodes().Patch(t.Context(), p.Name, "application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"cluster-autoscaler.kubernetes.io/scale-down-disabled":"true"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	d.start()
	if _, err := d.enq.Enqueue(t.Context(), enqueuer.Request{ID: "no-drain", ProjectID: project, ClusterID: d.cluster, Nodes: u,
		SSHKey: "k", Drain: &enqueuer.DrainOptions{Enabled: ptr(false)}}); err != nil {
		t.Fatal(err)
	}
	st := d.waitFinal("no-drain", 60*time.Second)
	if st.State != enqueuer.StateFailed || st.Nodes[0].State != enqueuer.NodeFailed || st.Nodes[1].State != enqueuer.NodeRemoved ||
		!strings.Contains(st.Nodes[0].Reason, "protected by its annotation cluster-autoscaler.kubernetes.io/scale-down-disabled=true") {
		t.Fatalf("%+v", st)
	}
	for _, r := range d.fake.Removals() {
		if slices.Contains(r.Nodes, u[0]) {
			t.Error("the protected node was sent to CCE")
		}
	}
}
