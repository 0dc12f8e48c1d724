package controller_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/controller"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/testkit"
)

const ask = controller.AnnRemove

// TestAnnotatedNodeIsRemoved: a Node annotated noderemover.io/remove=true
// is drained and removed, and its annotations and Events tell the story.
// The Node stays in this control plane (nothing deletes it as CCE would).
func TestAnnotatedNodeIsRemoved(t *testing.T) {
	e := newEnv(t, 300*time.Millisecond)
	e.start("ctl")
	uid := "aaaaaaaa-0000-4000-8000-000000000001"
	n := e.node(uid, map[string]string{ask: "true", controller.AnnSSHKey: "node-keypair", controller.AnnDrainTimeout: "2m"})
	got := e.waitState(n.Name, string(enqueuer.StateSucceeded))
	id := got.Annotations[controller.AnnRequestID]
	if want := controller.RequestID(e.cluster, string(n.UID), "1"); id != want {
		t.Errorf("request id %q, want %q", id, want)
	}
	st, err := e.enq.Status(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 1 || st.Nodes[0].UID != uid || st.Drain == nil || time.Duration(st.Drain.Timeout) != 2*time.Minute {
		t.Errorf("status %+v", st)
	}
	if _, _, exists := e.fake.Node(project, e.cluster, uid); exists {
		t.Error("the CCE node is still there")
	}
	for k, v := range got.Annotations {
		if strings.Contains(v, "PRIVATE KEY") || strings.Contains(v, token) {
			t.Errorf("annotation %s carries key material", k)
		}
	}
	if l := e.logs.String(); strings.Contains(l, "PRIVATE KEY") || strings.Contains(l, token) {
		t.Error("the log carries key material or the CCE token")
	}
	evs := e.events(n.Name)
	for _, want := range []string{controller.EventRequested, "Draining", "HandedToCCE", "RemovalSucceeded"} {
		if !slices.Contains(evs, want) {
			t.Errorf("no %s Event on the Node; it has %v", want, evs)
		}
	}
}

// TestTwoNodesOneCall: two Nodes of one cluster annotated at once go to
// CCE in one RemoveNode call.
func TestTwoNodesOneCall(t *testing.T) {
	e := newEnv(t, 300*time.Millisecond)
	e.start("ctl")
	a := e.node("bbbbbbbb-0000-4000-8000-000000000001", nil)
	b := e.node("bbbbbbbb-0000-4000-8000-000000000002", nil)
	e.annotate(a.Name, map[string]string{ask: "true"})
	e.annotate(b.Name, map[string]string{ask: "true"})
	e.waitState(a.Name, string(enqueuer.StateSucceeded))
	e.waitState(b.Name, string(enqueuer.StateSucceeded))
	if calls := e.fake.Calls(ccetest.OpRemoveNodes); calls != 1 {
		t.Errorf("%d RemoveNode calls for two Nodes, want 1", calls)
	}
}

// TestRestartAndResyncMakeOneRequest: a controller restarted, two replicas
// at once, a forced resync and a lost answer on the Node all come back to
// the one request of the ask.
func TestRestartAndResyncMakeOneRequest(t *testing.T) {
	e := newEnv(t, 300*time.Millisecond)
	if err := e.enq.Pause(t.Context(), e.cluster); err != nil {
		t.Fatal(err)
	}
	first := e.start("first")
	n := e.node("cccccccc-0000-4000-8000-000000000001", map[string]string{ask: "true"})
	got := e.waitState(n.Name, string(enqueuer.StateQueued))
	id := got.Annotations[controller.AnnRequestID]
	testkit.WaitFor(t, 30*time.Second, "the pause shown on the Node", func() bool {
		return strings.Contains(e.get(n.Name).Annotations[controller.AnnReason], "paused")
	})
	first.stop()
	// The answer lost: the next controllers must find the same request.
	e.annotate(n.Name, map[string]string{controller.AnnRequestID: "", controller.AnnState: ""})
	r1, r2 := e.start("replica-1"), e.start("replica-2")
	r1.c.Resync()
	r2.c.Resync()
	testkit.WaitFor(t, 30*time.Second, "the request id written again", func() bool {
		return e.get(n.Name).Annotations[controller.AnnRequestID] == id
	})
	if err := e.enq.Resume(t.Context(), e.cluster); err != nil {
		t.Fatal(err)
	}
	e.waitState(n.Name, string(enqueuer.StateSucceeded))
	r1.c.Resync()
	list, err := e.enq.List(t.Context(), enqueuer.ListFilter{ClusterID: e.cluster})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].RequestID != id {
		t.Errorf("requests %+v, want the one request %s", list, id)
	}
	if calls := e.fake.Calls(ccetest.OpRemoveNodes); calls != 1 {
		t.Errorf("%d RemoveNode calls, want 1", calls)
	}
	if c := strings.Count(strings.Join(e.events(n.Name), " "), controller.EventRequested); c != 1 {
		t.Errorf("%d %s Events, want 1", c, controller.EventRequested)
	}
}

// TestRemovedAnnotationCancels: the ask taken back while the request waits
// (its cluster paused) cancels it.
func TestRemovedAnnotationCancels(t *testing.T) {
	e := newEnv(t, 300*time.Millisecond)
	if err := e.enq.Pause(t.Context(), e.cluster); err != nil {
		t.Fatal(err)
	}
	e.start("ctl")
	n := e.node("dddddddd-0000-4000-8000-000000000001", map[string]string{ask: "true"})
	got := e.waitState(n.Name, string(enqueuer.StateQueued))
	id := got.Annotations[controller.AnnRequestID]
	e.annotate(n.Name, map[string]string{ask: ""})
	e.waitState(n.Name, string(enqueuer.StateCancelled))
	st, err := e.enq.Status(t.Context(), id)
	if err != nil || st.State != enqueuer.StateCancelled {
		t.Fatalf("status %+v, %v", st, err)
	}
	if calls := e.fake.Calls(ccetest.OpRemoveNodes); calls != 0 {
		t.Errorf("%d RemoveNode calls for a cancelled request", calls)
	}
}

// TestRemovedAnnotationAfterCCEAccepted: once CCE took the removal the ask
// cannot be taken back; an Event says so and the removal goes on.
func TestRemovedAnnotationAfterCCEAccepted(t *testing.T) {
	e := newEnv(t, 5*time.Second)
	e.start("ctl")
	n := e.node("eeeeeeee-0000-4000-8000-000000000001", map[string]string{ask: "true"})
	e.waitState(n.Name, string(enqueuer.StatePolling))
	e.annotate(n.Name, map[string]string{ask: ""})
	testkit.WaitFor(t, 30*time.Second, "the RemovalNotCancelled Event", func() bool {
		return slices.Contains(e.events(n.Name), controller.EventNotCancelled)
	})
	e.waitState(n.Name, string(enqueuer.StateSucceeded))
}

// TestProtectedNodeIsRefused: the worker's guardrail refuses a protected
// Node, and the reason is on the Node.
func TestProtectedNodeIsRefused(t *testing.T) {
	e := newEnv(t, 300*time.Millisecond)
	e.start("ctl")
	n := e.node("ffffffff-0000-4000-8000-000000000001", map[string]string{"noderemover.io/do-not-remove": "true"})
	e.annotate(n.Name, map[string]string{ask: "true"})
	got := e.waitState(n.Name, string(enqueuer.StateFailed))
	if r := got.Annotations[controller.AnnReason]; !strings.Contains(r, "noderemover.io/do-not-remove") {
		t.Errorf("reason %q does not name the protecting annotation", r)
	}
	if !slices.Contains(e.events(n.Name), "RemovalFailed") {
		t.Errorf("no RemovalFailed Event: %v", e.events(n.Name))
	}
}

// TestBadAnnotationIsRefused: an ask the controller cannot read is
// refused on the Node, naming the annotation, and nothing is enqueued.
func TestBadAnnotationIsRefused(t *testing.T) {
	e := newEnv(t, 300*time.Millisecond)
	e.start("ctl")
	n := e.node("abababab-0000-4000-8000-000000000001", map[string]string{controller.AnnDrainTimeout: "soon"})
	e.annotate(n.Name, map[string]string{ask: "true"})
	got := e.waitState(n.Name, controller.StateRefused)
	if r := got.Annotations[controller.AnnReason]; !strings.Contains(r, controller.AnnDrainTimeout) {
		t.Errorf("reason %q does not name the annotation", r)
	}
	// Fixed, with a new generation: it goes.
	e.annotate(n.Name, map[string]string{controller.AnnDrainTimeout: "1m", ask: "2"})
	e.waitState(n.Name, string(enqueuer.StateSucceeded))
}
