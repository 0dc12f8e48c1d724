package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/worker"
)

// withGuard gives the fleet's guardrails and quick rechecks.
func withGuard(max string, minNodes int) harnessOption {
	return func(c *worker.Config, _ *ccetest.Options) {
		b, err := removal.ParseBudget(max)
		if err != nil {
			panic(err)
		}
		c.Guard = &removal.Guard{MaxDisrupting: b, MinNodes: minNodes}
		c.GuardRecheck = 200 * time.Millisecond
	}
}

// extraWorker starts another worker on the harness's Redis and fake CCE.
func (h *harness) extraWorker() *worker.Server {
	h.tb.Helper()
	api, err := cce.New(cce.Config{Endpoint: h.fake.URL, Auth: cce.TokenAuth{Token: token}, Timeout: h.cfg.CCETimeout})
	if err != nil {
		h.tb.Fatal(err)
	}
	w := worker.New(h.rdb, api, h.cfg)
	if err := w.Start(); err != nil {
		h.tb.Fatal(err)
	}
	h.tb.Cleanup(w.Shutdown)
	return w
}

// TestBudgetHoldsAcrossThreeWorkers: with at most 2 nodes of a cluster
// disrupting at once, three workers never have more in CCE's jobs or in
// batches, sampled throughout; every request succeeds in the end, in order,
// each node removed once; the others waited saying why.
func TestBudgetHoldsAcrossThreeWorkers(t *testing.T) {
	h := newHarness(t, withGuard("2", 0), func(c *worker.Config, _ *ccetest.Options) { c.BatchWindow = 300 * time.Millisecond })
	h.dumpLogsOnFailure()
	ctx := t.Context()
	const cluster = "budget-c"
	nodes := uids(0xb1, 9)
	h.fake.AddNodes(project, cluster, uids(0xb2, 20)...) // the rest of the cluster
	var ids []string
	for i, n := range nodes {
		id := fmt.Sprintf("budget-%d", i)
		ids = append(ids, id)
		h.enqueue(enqueuer.Request{ID: id, ClusterID: cluster, Nodes: []string{n}})
	}
	var peak atomic.Int64
	var sawWait atomic.Bool
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := 0
			for _, uid := range nodes {
				if phase, _, ok := h.fake.Node(project, cluster, uid); ok && phase == cce.NodeDeleting {
					n++
				}
			}
			recs, err := h.enq.List(context.WithoutCancel(ctx), enqueuer.ListFilter{ClusterID: cluster})
			if err == nil {
				inFlight := 0
				for _, r := range recs {
					if r.State == removal.StateSubmitting || r.State == removal.StatePolling {
						inFlight += len(r.Nodes)
					}
					if strings.Contains(r.Waiting, "over budget") {
						sawWait.Store(true)
					}
				}
				n = max(n, inFlight)
			}
			if int64(n) > peak.Load() {
				peak.Store(int64(n))
			}
			time.Sleep(10 * time.Millisecond) // the sampling period, not a wait for a condition
		}
	})
	h.start()
	h.extraWorker()
	h.extraWorker()
	for _, id := range ids {
		if st := h.waitFinal(id, 60*time.Second); st.State != removal.StateSucceeded {
			t.Errorf("%s: %+v", id, st)
		}
	}
	close(stop)
	sampler.Wait()
	if p := peak.Load(); p > 2 || p == 0 {
		t.Errorf("at most %d nodes disrupting at once; want 1 or 2", p)
	}
	if !sawWait.Load() {
		t.Error("no request ever said it waited for the budget")
	}
	for _, r := range h.fake.Removals() {
		if len(r.Nodes) > 2 {
			t.Errorf("a RemoveNode call of %d nodes over a budget of 2", len(r.Nodes))
		}
	}
	if d := h.fake.DoubleRemovals(); len(d) > 0 {
		t.Errorf("removed twice: %v", d)
	}
	d, err := h.store.Disruption(ctx, project, cluster)
	if err != nil || len(d.Admitted) != 0 {
		t.Errorf("after every request ended the budget still counts %v (%v)", d.Admitted, err)
	}
}

// TestMinimumRefusesAtOnce: a request that would leave fewer nodes than the
// cluster's minimum fails at once with the numbers; nothing reaches CCE.
func TestMinimumRefusesAtOnce(t *testing.T) {
	h := newHarness(t, withGuard("100%", 3))
	h.start()
	h.fake.AddNodes(project, "small-c", uids(0xb3, 2)...)
	h.enqueue(enqueuer.Request{ID: "too-many", ClusterID: "small-c", Nodes: uids(0xb4, 2)})
	st := h.waitFinal("too-many", 30*time.Second)
	if st.State != removal.StateFailed || !strings.Contains(st.Error, "would leave 2 nodes in cluster small-c (4 now, 2 of them in this request); min_nodes is 3") {
		t.Fatalf("%+v", st)
	}
	if len(h.fake.Removals()) != 0 {
		t.Errorf("CCE was called: %+v", h.fake.Removals())
	}
	// One node leaves 3: it goes.
	h.enqueue(enqueuer.Request{ID: "one", ClusterID: "small-c", Nodes: uids(0xb4, 1)})
	if st := h.waitFinal("one", 30*time.Second); st.State != removal.StateSucceeded {
		t.Fatalf("%+v", st)
	}
}

// TestClusterSettingsAtRunTime: a cluster's own budget, set while requests
// wait, lets them go.
func TestClusterSettingsAtRunTime(t *testing.T) {
	h := newHarness(t, withGuard("0", 0)) // the fleet denies by default
	h.start()
	h.enqueue(enqueuer.Request{ID: "denied", ClusterID: "deny-c", Nodes: uids(0xb5, 1)})
	testkit.WaitFor(t, 20*time.Second, "waits for a budget", func() bool {
		st, err := h.enq.Status(t.Context(), "denied")
		return err == nil && strings.Contains(st.Waiting, "max_disrupting of cluster deny-c is 0")
	})
	one := removal.Budget{N: 1}
	if _, err := h.enq.SetCluster(t.Context(), "deny-c", enqueuer.ClusterSettings{MaxDisrupting: &one}); err != nil {
		t.Fatal(err)
	}
	if st := h.waitFinal("denied", 30*time.Second); st.State != removal.StateSucceeded || st.Waiting != "" {
		t.Fatalf("%+v", st)
	}
}

// TestWindowClosedWaitsThenGoes: outside the cluster's maintenance window
// requests wait, saying when it opens; once the (injected) clock is inside
// it they go.
func TestWindowClosedWaitsThenGoes(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	h := newHarness(t, withGuard("100%", 0), func(c *worker.Config, _ *ccetest.Options) { c.Now = clock.Now })
	h.dumpLogsOnFailure()
	w, err := removal.ParseWindow("0 2 * * * 3h Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.enq.SetCluster(t.Context(), "window-c", enqueuer.ClusterSettings{Windows: []removal.Window{w}}); err != nil {
		t.Fatal(err)
	}
	h.start()
	for i, n := range uids(0xb6, 3) {
		h.enqueue(enqueuer.Request{ID: fmt.Sprintf("win-%d", i), ClusterID: "window-c", Nodes: []string{n}})
	}
	for i := range 3 {
		testkit.WaitFor(t, 20*time.Second, "waits for the window", func() bool {
			st, err := h.enq.Status(t.Context(), fmt.Sprintf("win-%d", i))
			return err == nil && strings.Contains(st.Waiting, "the next opens at 2026-12-02T01:00:00Z")
		})
	}
	if len(h.fake.Removals()) != 0 {
		t.Fatal("removed outside the window")
	}
	clock.Advance(13*time.Hour + 30*time.Minute) // 01:30 UTC is 02:30 in Berlin
	for i := range 3 {
		if st := h.waitFinal(fmt.Sprintf("win-%d", i), 30*time.Second); st.State != removal.StateSucceeded {
			t.Errorf("win-%d: %+v", i, st)
		}
	}
}

// TestPreflightCluster: a cluster Upgrading holds its requests (no attempt
// used) until it is Available; a node not in the cluster fails before any
// call, its reason saying so.
func TestPreflightCluster(t *testing.T) {
	h := newHarness(t, withGuard("100%", 0))
	h.dumpLogsOnFailure()
	h.start()
	h.fake.SetClusterPhase(project, "upgrading-c", cce.ClusterUpgrading)
	h.enqueue(enqueuer.Request{ID: "upg", ClusterID: "upgrading-c", Nodes: uids(0xb7, 1)})
	testkit.WaitFor(t, 20*time.Second, "waits for the cluster", func() bool {
		st, err := h.enq.Status(t.Context(), "upg")
		return err == nil && strings.Contains(st.Waiting, "cluster upgrading-c is Upgrading")
	})
	h.fake.SetClusterPhase(project, "upgrading-c", cce.ClusterAvailable)
	if st := h.waitFinal("upg", 30*time.Second); st.State != removal.StateSucceeded || st.Attempts != 1 {
		t.Fatalf("%+v", st)
	}

	h.fake.AddNodes(project, "missing-c", uids(0xb8, 1)...)
	if _, err := h.enq.Enqueue(t.Context(), enqueuer.Request{ID: "missing", ProjectID: project, ClusterID: "missing-c",
		Nodes: []string{uids(0xb8, 1)[0], uids(0xb9, 1)[0]}, SSHKey: "k"}); err != nil {
		t.Fatal(err)
	}
	st := h.waitFinal("missing", 30*time.Second)
	if st.State != removal.StateFailed || st.Nodes[0].State != removal.NodeRemoved ||
		st.Nodes[1].State != removal.NodeFailed || !strings.Contains(st.Nodes[1].Reason, "not in cluster missing-c") {
		t.Fatalf("%+v", st)
	}
	for _, r := range h.fake.Removals() {
		for _, n := range r.Nodes {
			if n == uids(0xb9, 1)[0] {
				t.Error("the node not in the cluster was sent")
			}
		}
	}
}
