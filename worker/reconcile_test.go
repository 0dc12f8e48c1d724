package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/store/storetest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/worker"
)

// TestOlderRemovalIsNotAdopted: reconciling a batch whose call may have
// gone out finds its node in Error under a removal job that began before
// the batch's intent was recorded (an earlier removal that failed). That job
// is not the batch's: its failure is not taken for the batch's, the node is
// sent, and CCE runs a removal of its own for it.
func TestOlderRemovalIsNotAdopted(t *testing.T) {
	clock := testkit.NewOffsetClock(-2 * time.Hour) // CCE's clock: the other removal began two hours ago
	h := newHarness(t, func(_ *worker.Config, o *ccetest.Options) {
		o.Now = clock.Now
		o.JobDuration = time.Second
	})
	h.dumpLogsOnFailure()
	node := uids(91, 1)[0]
	h.enqueue(enqueuer.Request{ID: "late", ClusterID: "c1", Nodes: []string{node}})
	api, err := cce.New(cce.Config{Endpoint: h.fake.URL, Auth: cce.TokenAuth{Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := api.RemoveNodes(t.Context(), project, "c1", cce.Login{SSHKey: "someone-else"}, []string{node})
	if err != nil {
		t.Fatal(err)
	}
	h.fake.FailRemoval(node)     // it fails, leaving the node in Error under that job
	clock.Advance(2 * time.Hour) // CCE's clock is ours again; the other job ended long ago
	if phase, job, _ := h.fake.Node(project, "c1", node); phase != cce.NodeError || job != other {
		t.Fatalf("node %s under job %q, want Error under %s", phase, job, other)
	}
	storetest.Form(t, h.store, time.Now().Add(-time.Second), "late") // our intent, now; the call's outcome unknown
	h.start()
	st := h.waitFinal("late", finalWithin)
	removals := h.fake.Removals()
	if st.JobID == other || len(removals) != 2 || removals[1].JobID != st.JobID {
		t.Fatalf("request %s with job %q (error %q), removals %+v; want a removal of its own, not job %s", st.State, st.JobID, st.Error, removals, other)
	}
	if !strings.Contains(st.Error, "could not be removed") {
		t.Errorf("error %q, want the outcome of its own job (the fake still fails the node)", st.Error)
	}
}

// TestLockedClusterIsNotHammered: while another operation holds the
// cluster (CCE answers 429 CCE.01429002), the request waits between tries
// as its task says; the end of its own throttled batch does not wake it at
// once.
func TestLockedClusterIsNotHammered(t *testing.T) {
	h := newHarness(t, func(_ *worker.Config, o *ccetest.Options) { o.JobDuration = 3 * time.Second })
	node, busy := uids(92, 2)[0], uids(92, 2)[1]
	h.enqueue(enqueuer.Request{ID: "patient", ClusterID: "c1", Nodes: []string{node}})
	h.fake.AddNodes(project, "c1", busy)
	api, err := cce.New(cce.Config{Endpoint: h.fake.URL, Auth: cce.TokenAuth{Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.RemoveNodes(t.Context(), project, "c1", cce.Login{SSHKey: "someone-else"}, []string{busy}); err != nil {
		t.Fatal(err) // another operation holds the cluster for three seconds
	}
	h.start()
	if st := h.waitFinal("patient", finalWithin); st.State != "succeeded" {
		t.Fatalf("%s %q", st.State, st.Error)
	}
	// Waits of a second or more (asynq's resolution) over three seconds:
	// about four; woken at once after each, about twenty.
	if n := h.fake.Answers(ccetest.OpRemoveNodes, 429); n == 0 || n > 10 {
		t.Errorf("%d RemoveNode calls answered 429 while the cluster was locked for 3s; want a few, spaced by waits", n)
	}
}
