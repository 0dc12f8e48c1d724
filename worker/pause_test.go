package worker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/worker"
)

func withPauseRecheck(c *worker.Config, _ *ccetest.Options) { c.GuardRecheck = 200 * time.Millisecond }

// TestPauseHoldsAndResumeLosesNothing: requests of a paused cluster wait,
// saying why, and none reaches CCE; another cluster goes on; once resumed
// every request succeeds, each node removed once.
func TestPauseHoldsAndResumeLosesNothing(t *testing.T) {
	h := newHarness(t, withPauseRecheck)
	h.dumpLogsOnFailure()
	ctx := t.Context()
	if err := h.enq.Pause(ctx, "paused-c"); err != nil {
		t.Fatal(err)
	}
	h.start()
	var held []string
	for i, node := range uids(0xe1, 6) {
		id := fmt.Sprintf("held-%d", i)
		held = append(held, id)
		h.enqueue(enqueuer.Request{ID: id, ClusterID: "paused-c", Nodes: []string{node}})
	}
	h.enqueue(enqueuer.Request{ID: "free", ClusterID: "other-c", Nodes: uids(0xe2, 1)})
	if st := h.waitFinal("free", 30*time.Second); st.State != removal.StateSucceeded {
		t.Fatalf("a request of a cluster that is not paused: %+v", st)
	}
	for _, id := range held {
		testkit.WaitFor(t, 20*time.Second, id+" says it is paused", func() bool {
			st, err := h.enq.Status(ctx, id)
			return err == nil && st.State == removal.StateQueued && strings.Contains(st.Waiting, "paused: cluster paused-c")
		})
	}
	for _, r := range h.fake.Removals() {
		if r.ClusterID == "paused-c" {
			t.Fatalf("a paused cluster's nodes went to CCE: %+v", r)
		}
	}
	if p, err := h.enq.Paused(ctx); err != nil || len(p) != 1 || p["paused-c"].IsZero() {
		t.Errorf("paused: %v %v", p, err)
	}
	if err := h.enq.Resume(ctx, "paused-c"); err != nil {
		t.Fatal(err)
	}
	for _, id := range held {
		st := h.waitFinal(id, 30*time.Second)
		if st.State != removal.StateSucceeded || st.Waiting != "" {
			t.Errorf("%s after resume: %+v", id, st)
		}
	}
	if d := h.fake.DoubleRemovals(); len(d) > 0 {
		t.Errorf("removed twice: %v", d)
	}
}

// TestPauseEverything: the switch of every cluster holds them all, and the
// status says so.
func TestPauseEverything(t *testing.T) {
	h := newHarness(t, withPauseRecheck)
	ctx := t.Context()
	if err := h.enq.Pause(ctx, ""); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.enqueue(enqueuer.Request{ID: "all-held", ClusterID: "any-c", Nodes: uids(0xe3, 1)})
	testkit.WaitFor(t, 20*time.Second, "held by the pause of everything", func() bool {
		st, err := h.enq.Status(ctx, "all-held")
		return err == nil && strings.Contains(st.Waiting, "every cluster")
	})
	if n := h.fake.Calls(ccetest.OpRemoveNodes); n != 0 {
		t.Fatalf("%d RemoveNode calls while everything is paused", n)
	}
	if err := h.enq.Resume(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if st := h.waitFinal("all-held", 30*time.Second); st.State != removal.StateSucceeded {
		t.Fatalf("%+v", st)
	}
	if _, err := h.enq.Status(ctx, "x"); err == nil {
		t.Fatal("unknown request found")
	}
	if err := h.enq.Pause(ctx, "not a cluster"); err == nil || !strings.Contains(err.Error(), "cluster_id") {
		t.Errorf("a bad cluster id: %v", err)
	}
}
