package worker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/drain"
	"github.com/noderemover/noderemover/internal/kube"
	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
	"github.com/noderemover/noderemover/worker"
)

// The drain, end to end on a real control plane: the fake CCE's clustercert
// hands out a kubeconfig for it, and its ShowNode names the Nodes
// registered there, so the worker walks the production path (KUBE_ACCESS=cce).

// kubeForTest is the worker's Kubernetes access in these tests: CCE mode,
// asking the harness's CCE client (made after the options) for kubeconfigs.
type kubeForTest struct {
	*kube.Access
	issuer *lateIssuer
}

type lateIssuer struct{ api atomic.Pointer[cce.Client] }

func (l *lateIssuer) ClusterCert(ctx context.Context, project, cluster string, d time.Duration) ([]byte, error) {
	return l.api.Load().ClusterCert(ctx, project, cluster, d)
}

// drainCluster is a cluster of the fake CCE whose Kubernetes is the shared
// control plane, with its own Nodes.
type drainCluster struct {
	*harness
	cp      *kubetest.ControlPlane
	kc      kubernetes.Interface
	cluster string
	ns      string
}

// withDrain gives the worker Kubernetes access through CCE and the
// enqueuer the fleet's drain defaults (on).
func withDrain(tb testing.TB) harnessOption {
	return func(c *worker.Config, _ *ccetest.Options) {
		l := &lateIssuer{}
		a, err := kube.New(kube.Options{Mode: kube.ModeCCE, CCE: l})
		if err != nil {
			tb.Fatal(err)
		}
		c.Kube = &kubeForTest{Access: a, issuer: l}
		c.DrainInterval, c.DrainIntervalMax = 200*time.Millisecond, 500*time.Millisecond
	}
}

func newDrainCluster(t *testing.T, opts ...harnessOption) *drainCluster {
	t.Helper()
	cp := kubetest.Shared(t)
	h := newHarness(t, append([]harnessOption{withDrain(t)}, opts...)...)
	h.dumpLogsOnFailure()
	d := &drainCluster{harness: h, cp: cp, kc: cp.Client(t), cluster: kubetest.Name(t, "c"), ns: cp.Namespace(t)}
	h.fake.SetClusterCert(project, d.cluster, cp.CCEKubeconfig)
	return d
}

// node registers a Kubernetes Node (kwok) and a CCE node naming it.
func (d *drainCluster) node(uid string, labels map[string]string) *corev1.Node {
	d.tb.Helper()
	name := kubetest.Name(d.tb, "n")
	ip := fmt.Sprintf("10.%d.%d.%d", 100+len(name)%50, time.Now().Nanosecond()%250, 1+time.Now().Nanosecond()/7%250)
	n := d.cp.AddNode(d.tb, name, ip, labels)
	d.fake.AddNodes(project, d.cluster, uid)
	d.fake.SetNodeAddress(project, d.cluster, uid, name, ip)
	return n
}

func (d *drainCluster) enqueueDrain(id string, uids []string, o *enqueuer.DrainOptions) removal.Status {
	d.tb.Helper()
	if o == nil {
		o = &enqueuer.DrainOptions{}
	}
	st, err := d.enq.Enqueue(d.tb.Context(), enqueuer.Request{ID: id, ProjectID: project, ClusterID: d.cluster, Nodes: uids,
		SSHKey: "test-keypair", Drain: o})
	if err != nil {
		d.tb.Fatalf("enqueue %s: %v", id, err)
	}
	return st
}

func (d *drainCluster) getNode(name string) *corev1.Node {
	d.tb.Helper()
	n, err := d.kc.CoreV1().Nodes().Get(d.tb.Context(), name, metav1.GetOptions{})
	if err != nil {
		d.tb.Fatal(err)
	}
	return n
}

// events lists the reasons of the Events on Node name.
func (d *drainCluster) events(name string) []string {
	d.tb.Helper()
	evs, err := d.kc.CoreV1().Events(metav1.NamespaceDefault).List(d.tb.Context(),
		metav1.ListOptions{FieldSelector: "involvedObject.kind=Node,involvedObject.name=" + name})
	if err != nil {
		d.tb.Fatal(err)
	}
	var out []string
	for _, e := range evs.Items {
		out = append(out, e.Reason)
	}
	return out
}

func (d *drainCluster) waitStatus(id, what string, cond func(removal.Status) bool) removal.Status {
	d.tb.Helper()
	var st removal.Status
	testkit.WaitFor(d.tb, 60*time.Second, what, func() bool {
		var err error
		st, err = d.enq.Status(d.tb.Context(), id)
		return err == nil && cond(st)
	})
	return st
}

func ptr[T any](v T) *T { return &v }

func removedUIDs(f *ccetest.Server) map[string]bool {
	out := map[string]bool{}
	for _, r := range f.Removals() {
		for _, u := range r.Nodes {
			out[u] = true
		}
	}
	return out
}

// TestDrainWaitsForThePDB: a PDB holds a Pod back, the status says which;
// once the Deployment scales up the drain finishes, CCE removes the node,
// the DaemonSet's Pod stayed, and the Events tell the story.
func TestDrainWaitsForThePDB(t *testing.T) {
	d := newDrainCluster(t)
	pool := map[string]string{"pool": d.ns}
	target, other := d.node(uids(0xd1, 1)[0], pool), d.node(uids(0xd1, 2)[1], pool)
	// Both Pods on the target: the other node is cordoned while they are placed.
	d.setUnschedulable(other.Name, true)
	w := kubetest.Workload{Name: "web", Replicas: 2, Placement: kubetest.Placement{Nodes: []string{target.Name, other.Name}}}
	d.cp.Deployment(t, d.ns, w)
	d.cp.PDB(t, d.ns, kubetest.PDB{Name: "web", Selector: map[string]string{"app": "web"}, MinAvailable: ptr(intstr.FromInt32(2))})
	d.cp.DaemonSet(t, d.ns, kubetest.Workload{Name: "agent", Placement: kubetest.Placement{Nodes: []string{target.Name}}})
	d.cp.WaitPodsRunning(t, d.ns, w.Selector(), 2)
	d.setUnschedulable(other.Name, false)
	onTarget := 2
	agents := d.cp.WaitPodsRunning(t, d.ns, "app=agent", 1)
	d.start()

	d.enqueueDrain("drain-pdb", []string{uids(0xd1, 1)[0]}, &enqueuer.DrainOptions{Timeout: ptr(enqueuer.Duration(time.Minute))})
	st := d.waitStatus("drain-pdb", "blocked by the PDB", func(s removal.Status) bool {
		n := s.Nodes[0]
		return s.State == removal.StateDraining && n.Drain != nil && strings.Contains(strings.Join(n.Drain.BlockedBy, " "), "web")
	})
	if !d.getNode(target.Name).Spec.Unschedulable {
		t.Fatal("the node drains and is not cordoned")
	}
	if st.Nodes[0].Drain.PodsLeft != onTarget {
		t.Errorf("pods_left %d, want %d", st.Nodes[0].Drain.PodsLeft, onTarget)
	}
	if len(d.fake.Removals()) != 0 {
		t.Fatal("RemoveNode was called before the drain ended")
	}

	scale(t, d.kc, d.ns, "web", 2+int32(onTarget))
	st = d.waitFinal("drain-pdb", 90*time.Second)
	if st.State != removal.StateSucceeded || st.Nodes[0].State != removal.NodeRemoved {
		t.Fatalf("status %+v", st)
	}
	if !removedUIDs(d.fake)[uids(0xd1, 1)[0]] {
		t.Error("CCE never removed the node")
	}
	after, err := d.kc.CoreV1().Pods(d.ns).Get(t.Context(), agents[0].Name, metav1.GetOptions{})
	if err != nil || after.UID != agents[0].UID {
		t.Errorf("the DaemonSet's Pod did not stay: %v", err)
	}
	d.noKeyMaterial()
	evs := strings.Join(d.events(target.Name), " ")
	for _, want := range []string{"Draining", "HandedToCCE"} {
		if !strings.Contains(evs, want) {
			t.Errorf("no %s Event on the node (events: %s)", want, evs)
		}
	}
}

func (d *drainCluster) setUnschedulable(name string, v bool) {
	d.tb.Helper()
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, v)
	if _, err := d.kc.CoreV1().Nodes().Patch(d.tb.Context(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		d.tb.Fatal(err)
	}
}

func scale(t *testing.T, kc kubernetes.Interface, ns, name string, n int32) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if _, err := kc.AppsV1().Deployments(ns).Patch(t.Context(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// blockedNode is a node whose only Pod cannot be evicted (a bare Pod; no
// force), so that its drain runs into its timeout.
func (d *drainCluster) blockedNode(uid string) *corev1.Node {
	d.tb.Helper()
	n := d.node(uid, nil)
	d.cp.Pod(d.tb, d.ns, kubetest.Name(d.tb, "bare"), n.Name, nil)
	return n
}

// TestDrainTimeoutFailUncordons: with on_timeout fail, each node fails
// naming what held it (a PodDisruptionBudget; a Pod with no controller), is
// uncordoned, and CCE is never called; a node someone else had cordoned
// stays cordoned.
func TestDrainTimeoutFailUncordons(t *testing.T) {
	d := newDrainCluster(t)
	// Ours is held by a PodDisruptionBudget, theirs by a Pod with no controller.
	mine, theirs := d.node(uids(0xd2, 2)[0], nil), d.blockedNode(uids(0xd2, 2)[1])
	d.cp.Deployment(t, d.ns, kubetest.Workload{Name: "db", Placement: kubetest.Placement{Nodes: []string{mine.Name}}})
	d.cp.PDB(t, d.ns, kubetest.PDB{Name: "db", Selector: map[string]string{"app": "db"}, MinAvailable: ptr(intstr.FromInt32(1))})
	d.cp.WaitPodsRunning(t, d.ns, "app=db", 1)
	d.setUnschedulable(theirs.Name, true) // someone else's cordon
	d.start()
	d.enqueueDrain("drain-fail", uids(0xd2, 2), &enqueuer.DrainOptions{Timeout: ptr(enqueuer.Duration(2 * time.Second))})
	st := d.waitFinal("drain-fail", 60*time.Second)
	if st.State != removal.StateFailed {
		t.Fatalf("state %s", st.State)
	}
	for i, holds := range []string{"PodDisruptionBudget " + d.ns + "/db", "no controller"} {
		n := st.Nodes[i]
		if n.State != removal.NodeFailed || !strings.Contains(n.Reason, "timed out") || !strings.Contains(n.Reason, holds) {
			t.Errorf("node %s: %s %q, want it to name %q", n.UID, n.State, n.Reason, holds)
		}
	}
	testkit.WaitFor(t, 10*time.Second, "our node uncordoned", func() bool {
		n := d.getNode(mine.Name)
		return !n.Spec.Unschedulable && n.Annotations[drain.CordonedBy] == ""
	})
	if !d.getNode(theirs.Name).Spec.Unschedulable {
		t.Error("a node someone else cordoned was uncordoned")
	}
	if len(d.fake.Removals()) != 0 {
		t.Error("RemoveNode was called for nodes whose drain failed")
	}
	if evs := strings.Join(d.events(mine.Name), " "); !strings.Contains(evs, "DrainFailed") {
		t.Errorf("no DrainFailed Event (events: %s)", evs)
	}
}

// TestDrainTimeoutRemoveGoesOn: with on_timeout remove, CCE removes the
// node with the Pod still on it, and the record says so.
func TestDrainTimeoutRemoveGoesOn(t *testing.T) {
	d := newDrainCluster(t)
	d.blockedNode(uids(0xd3, 1)[0])
	d.start()
	d.enqueueDrain("drain-remove", uids(0xd3, 1), &enqueuer.DrainOptions{Timeout: ptr(enqueuer.Duration(time.Second)),
		OnTimeout: ptr(enqueuer.OnTimeoutRemove)})
	st := d.waitFinal("drain-remove", 60*time.Second)
	n := st.Nodes[0]
	if st.State != removal.StateSucceeded || n.State != removal.NodeRemoved || n.Drain == nil || !n.Drain.TimedOut ||
		!strings.Contains(n.Reason, "Pods still on it") {
		t.Fatalf("status %+v, node %+v drain %+v", st, n, n.Drain)
	}
}

// TestDrainUnmanagedAndEmptyDirGoWhenAllowed: a bare Pod and an emptyDir
// Pod block a drain without force and delete_emptydir_data (the test
// above), and go with them.
func TestDrainUnmanagedAndEmptyDirGoWhenAllowed(t *testing.T) {
	d := newDrainCluster(t)
	n := d.node(uids(0xd4, 1)[0], nil)
	bare := d.cp.Pod(t, d.ns, kubetest.Name(t, "bare"), n.Name, nil)
	d.cp.Deployment(t, d.ns, kubetest.Workload{Name: "cache", EmptyDir: true, Placement: kubetest.Placement{Nodes: []string{n.Name}}})
	d.cp.WaitPodsRunning(t, d.ns, "app=cache", 1)
	d.start()
	d.enqueueDrain("drain-blocked", uids(0xd4, 1), &enqueuer.DrainOptions{Timeout: ptr(enqueuer.Duration(time.Minute))})
	st := d.waitStatus("drain-blocked", "held by both Pods", func(s removal.Status) bool {
		dr := s.Nodes[0].Drain
		return dr != nil && len(dr.BlockedBy) == 2
	})
	by := strings.Join(st.Nodes[0].Drain.BlockedBy, "\n")
	if !strings.Contains(by, bare.Name) || !strings.Contains(by, "emptyDir") {
		t.Errorf("blocked_by %q", by)
	}
	if _, err := d.enq.Cancel(t.Context(), "drain-blocked"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "cancelled drain uncordoned", func() bool { return !d.getNode(n.Name).Spec.Unschedulable })

	d.enqueueDrain("drain-allowed", uids(0xd4, 1), &enqueuer.DrainOptions{Force: ptr(true), DeleteEmptyDirData: ptr(true)})
	if st := d.waitFinal("drain-allowed", 60*time.Second); st.State != removal.StateSucceeded {
		t.Fatalf("with force and delete_emptydir_data: %+v", st)
	}
}

// TestProtectedNodeIsRefused: an annotated Node fails with a reason naming
// the annotation, and is not cordoned.
func TestProtectedNodeIsRefused(t *testing.T) {
	d := newDrainCluster(t)
	n := d.node(uids(0xd5, 1)[0], nil)
	n = d.getNode(n.Name)
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	n.Annotations["karpenter.sh/do-not-disrupt"] = "true"
	if _, err := d.kc.CoreV1().Nodes().Update(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	d.start()
	d.enqueueDrain("drain-protected", uids(0xd5, 1), nil)
	st := d.waitFinal("drain-protected", 30*time.Second)
	if st.State != removal.StateFailed || !strings.Contains(st.Nodes[0].Reason, "karpenter.sh/do-not-disrupt") {
		t.Fatalf("status %+v", st)
	}
	if d.getNode(n.Name).Spec.Unschedulable {
		t.Error("a protected node was cordoned")
	}
}

// TestNodeMissingFromKubernetesFails: no Node by CCE's name or IP: the node
// fails before anything is touched, saying what was looked for.
func TestNodeMissingFromKubernetesFails(t *testing.T) {
	d := newDrainCluster(t)
	uid := uids(0xd6, 1)[0]
	d.fake.AddNodes(project, d.cluster, uid)
	d.fake.SetNodeAddress(project, d.cluster, uid, "no-such-node", "10.255.255.254")
	d.start()
	d.enqueueDrain("drain-missing", []string{uid}, nil)
	st := d.waitFinal("drain-missing", 30*time.Second)
	if st.State != removal.StateFailed || !strings.Contains(st.Nodes[0].Reason, "no-such-node") ||
		!strings.Contains(st.Nodes[0].Reason, "10.255.255.254") {
		t.Fatalf("status %+v", st)
	}
}

// TestDrainedNodesShareOneCall: the drained nodes of two requests for one
// cluster still go to CCE in one RemoveNode call.
func TestDrainedNodesShareOneCall(t *testing.T) {
	d := newDrainCluster(t, func(c *worker.Config, _ *ccetest.Options) { c.BatchWindow = 3 * time.Second })
	a, b := uids(0xd7, 2)[0], uids(0xd7, 2)[1]
	d.node(a, nil)
	d.node(b, nil)
	d.start()
	d.enqueueDrain("drain-merge-a", []string{a}, nil)
	d.enqueueDrain("drain-merge-b", []string{b}, nil)
	for _, id := range []string{"drain-merge-a", "drain-merge-b"} {
		if st := d.waitFinal(id, 60*time.Second); st.State != removal.StateSucceeded {
			t.Fatalf("%s: %+v", id, st)
		}
	}
	if calls := d.fake.Calls(ccetest.OpRemoveNodes); calls != 1 {
		t.Errorf("%d RemoveNode calls for two drained requests, want 1", calls)
	}
}

// TestDrainingRequestWithoutTaskGetsItsTask: a draining request whose task
// went (deleted from the dashboard, say) is given its task again by the
// sweep, and its drain goes on.
func TestDrainingRequestWithoutTaskGetsItsTask(t *testing.T) {
	d := newDrainCluster(t, func(c *worker.Config, _ *ccetest.Options) { c.OrphanAfter = time.Second })
	uid := uids(0xd8, 1)[0]
	n := d.node(uid, nil)
	bare := d.cp.Pod(t, d.ns, kubetest.Name(t, "bare"), n.Name, nil)
	d.start()
	d.enqueueDrain("drain-orphan", []string{uid}, &enqueuer.DrainOptions{Timeout: ptr(enqueuer.Duration(time.Minute))})
	d.waitStatus("drain-orphan", "draining", func(s removal.Status) bool { return s.State == removal.StateDraining })
	ins := d.inspector()
	testkit.WaitFor(t, 10*time.Second, "the task deleted", func() bool {
		return ins.DeleteTask(tasks.Queue, tasks.RemoveNodesTaskID("drain-orphan")) == nil
	})
	if err := d.kc.CoreV1().Pods(d.ns).Delete(t.Context(), bare.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := d.waitFinal("drain-orphan", 60*time.Second); st.State != removal.StateSucceeded {
		t.Fatalf("status %+v", st)
	}
	if !strings.Contains(d.logs.String(), "had no task") {
		t.Error("the sweep did not say it gave the request its task again")
	}
}

// noKeyMaterial fails when a client key (what a kubeconfig CCE issues
// carries) shows in any Redis value or the worker's log.
func (d *drainCluster) noKeyMaterial() {
	d.tb.Helper()
	ctx := d.tb.Context()
	var text strings.Builder
	keys, err := d.rdb.Keys(ctx, "*").Result()
	if err != nil {
		d.tb.Fatal(err)
	}
	for _, k := range keys {
		switch d.rdb.Type(ctx, k).Val() {
		case "string":
			text.WriteString(d.rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range d.rdb.HGetAll(ctx, k).Val() {
				text.WriteString(f + v)
			}
		case "list":
			text.WriteString(strings.Join(d.rdb.LRange(ctx, k, 0, -1).Val(), " "))
		case "zset":
			text.WriteString(strings.Join(d.rdb.ZRange(ctx, k, 0, -1).Val(), " "))
		}
	}
	text.WriteString(d.logs.String())
	for _, secret := range []string{"PRIVATE KEY", "client-key-data", "LS0tLS1CRUdJTi", "certificate-authority-data"} {
		if strings.Contains(text.String(), secret) {
			d.tb.Errorf("%q in Redis or the worker's log", secret)
		}
	}
}

// TestDirAccessDrains: with KUBE_ACCESS=dir the worker reads the cluster's
// kubeconfig from KUBECONFIG_DIR (a client certificate, as a mounted
// Secret holds) and drains through it; no key material reaches Redis or
// the log.
func TestDirAccessDrains(t *testing.T) {
	cp := kubetest.Shared(t)
	dir := t.TempDir()
	cluster := kubetest.Name(t, "c")
	cfg, err := cp.Kubeconfig("noderemover", []string{"system:masters"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, cluster), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	access, err := kube.New(kube.Options{Mode: kube.ModeDir, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *worker.Config, _ *ccetest.Options) {
		c.Kube, c.DrainInterval, c.DrainIntervalMax = access, 200*time.Millisecond, 500*time.Millisecond
	})
	h.dumpLogsOnFailure()
	d := &drainCluster{harness: h, cp: cp, kc: cp.Client(t), cluster: cluster, ns: cp.Namespace(t)}
	d.enq = enqueuer.New(h.rdb, enqueuer.Options{Drain: enqueuer.DrainDefaults{Access: enqueuer.KubeAccessDir, Enabled: true}})
	t.Cleanup(func() { _ = d.enq.Close() })
	uid := uids(0xd9, 1)[0]
	n := d.node(uid, nil)
	d.cp.Deployment(t, d.ns, kubetest.Workload{Name: "web", Placement: kubetest.Placement{Nodes: []string{n.Name, d.node(uids(0xd9, 2)[1], nil).Name}}})
	d.cp.WaitPodsRunning(t, d.ns, "app=web", 1)
	d.start()
	d.enqueueDrain("drain-dir", []string{uid}, nil)
	if st := d.waitFinal("drain-dir", 60*time.Second); st.State != removal.StateSucceeded {
		t.Fatalf("status %+v", st)
	}
	d.noKeyMaterial()
}
