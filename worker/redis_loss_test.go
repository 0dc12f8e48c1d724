package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/metrics"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/worker"
)

const (
	lostLine  = "Redis lost its data"
	markerKey = "{noderemover}:epoch"
	lossKey   = "{noderemover}:data-lost"
)

// replica is one more worker on the harness's Redis and CCE, with its own
// log and metrics, shut down when the test ends.
type replica struct {
	w    *worker.Server
	logs *testkit.SyncBuffer
	reg  *prometheus.Registry
}

func (h *harness) replica() *replica {
	h.tb.Helper()
	r := &replica{logs: &testkit.SyncBuffer{}, reg: prometheus.NewRegistry()}
	cfg := h.cfg
	cfg.Logger = zerolog.New(r.logs).With().Timestamp().Logger()
	cfg.Metrics = metrics.New(r.reg, metrics.Options{})
	api, err := cce.New(cce.Config{Endpoint: h.fake.URL, Auth: cce.TokenAuth{Token: token}, Timeout: cfg.CCETimeout})
	if err != nil {
		h.tb.Fatal(err)
	}
	r.w = worker.New(h.rdb, api, cfg)
	if err := r.w.Start(); err != nil {
		h.tb.Fatal(err)
	}
	h.tb.Cleanup(r.w.Shutdown)
	h.tb.Cleanup(func() {
		if h.tb.Failed() {
			h.tb.Log("replica's log:\n" + r.logs.String())
		}
	})
	return r
}

// lossMetric is noderemover_redis_data_lost_total, failing the test when
// the metric is not there at all.
func lossMetric(tb testing.TB, reg *prometheus.Registry) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "noderemover_redis_data_lost_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	tb.Fatal("noderemover_redis_data_lost_total is not registered")
	return 0
}

// notReadyForLoss waits until ready says Redis lost its data.
func notReadyForLoss(tb testing.TB, name string, ready func() error) {
	tb.Helper()
	testkit.WaitFor(tb, 10*time.Second, name+" not ready, saying Redis lost its data", func() bool {
		err := ready()
		return err != nil && strings.Contains(err.Error(), lostLine) && strings.Contains(err.Error(), "redis-loss ack")
	})
}

// A Redis that restarts empty under running workers is a loss of data, not
// "Redis answers again": the first worker to notice logs it, counts it and
// writes the loss into Redis; every replica's readiness fails, and so does
// a worker started afterwards, until an operator acknowledges it.
func TestRedisRestartedEmptyIsALoss(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *worker.Config, _ *ccetest.Options) { c.Metrics = metrics.New(reg, metrics.Options{}) })
	if h.redis.Kind != redistest.KindServer {
		t.Skip("needs a private redis-server to restart")
	}
	h.dumpLogsOnFailure()
	h.start()
	second := h.replica()
	if st := h.waitFinal(h.enqueue(enqueuer.Request{ID: "before", ClusterID: "c1", Nodes: uids(20, 1)}).RequestID, finalWithin); st.State != removal.StateSucceeded {
		t.Fatalf("before the loss: %s %q", st.State, st.Error)
	}
	if n := lossMetric(t, reg); n != 0 {
		t.Fatalf("noderemover_redis_data_lost_total %v before any loss, want 0", n)
	}
	if err := h.w.Ready(t.Context()); err != nil {
		t.Fatalf("ready before the loss: %v", err)
	}
	before, err := h.rdb.Get(t.Context(), markerKey).Result()
	if err != nil {
		t.Fatalf("no marker before the loss: %v", err)
	}

	h.redis.Restart(t) // no append-only file: it comes back empty
	testkit.WaitFor(t, 10*time.Second, "both workers to say Redis lost its data", func() bool {
		return strings.Contains(h.logs.String(), lostLine) && strings.Contains(second.logs.String(), lostLine)
	})
	for name, logs := range map[string]string{"first": h.logs.String(), "second": second.logs.String()} {
		if n := strings.Count(logs, lostLine); n != 1 {
			t.Errorf("the %s worker logged the loss %d times, want once:\n%s", name, n, logs)
		}
		if strings.Contains(logs, "Redis answers again") {
			t.Errorf("the %s worker says Redis answers again, as if nothing was lost", name)
		}
		for _, means := range []string{"records, node claims and queued tasks written before may be gone", "removed with no record"} {
			if !strings.Contains(logs, means) {
				t.Errorf("the %s worker's line does not say %q", name, means)
			}
		}
	}
	if n := lossMetric(t, reg) + lossMetric(t, second.reg); n != 1 {
		t.Errorf("the workers counted %v losses together, want 1 (the first to notice counts it)", n)
	}
	evs, err := h.store.EventsAfter(t.Context(), "", 100)
	lostEvents := 0
	for _, e := range evs {
		if e.Type == removal.DataLostEventType {
			lostEvents++
		}
	}
	if err != nil || lostEvents != 1 {
		t.Errorf("%d data_lost events in the stream (%v), want 1", lostEvents, err)
	}
	notReadyForLoss(t, "the first worker", func() error { return h.w.Ready(t.Context()) })
	notReadyForLoss(t, "the second worker", func() error { return second.w.Ready(t.Context()) })
	if n, err := h.rdb.Exists(t.Context(), lossKey).Result(); err != nil || n != 1 {
		t.Errorf("%s: %d, %v; want it written", lossKey, n, err)
	}
	if after, err := h.rdb.Get(t.Context(), markerKey).Result(); err != nil || after == before {
		t.Errorf("marker after the loss %q (%v), before %q: want a new one", after, err, before)
	}
	loss, err := h.enq.DataLoss(t.Context())
	if err != nil || loss == nil || loss.NoticedAt.IsZero() || loss.DataSince.IsZero() || loss.DataSince.After(loss.NoticedAt) {
		t.Fatalf("enqueuer DataLoss: %+v, %v", loss, err)
	}

	// A worker started after the loss says it too.
	late := h.replica()
	notReadyForLoss(t, "a worker started after the loss", func() error { return late.w.Ready(t.Context()) })
	if strings.Contains(late.logs.String(), lostLine) || lossMetric(t, late.reg) != 0 {
		t.Errorf("a worker started after the loss noticed it again:\n%s", late.logs.String())
	}

	acked, err := h.enq.AcknowledgeDataLoss(t.Context())
	if err != nil || acked == nil || !acked.NoticedAt.Equal(loss.NoticedAt) {
		t.Fatalf("acknowledge: %+v, %v; want %+v", acked, err, loss)
	}
	for name, w := range map[string]*worker.Server{"first": h.w, "second": second.w, "late": late.w} {
		if err := w.Ready(t.Context()); err != nil {
			t.Errorf("the %s worker after the acknowledgement: %v", name, err)
		}
	}
	if l, err := h.enq.DataLoss(t.Context()); err != nil || l != nil {
		t.Errorf("DataLoss after the acknowledgement: %+v, %v", l, err)
	}
	// The workers carry on with the new marker: no second loss.
	if st := h.waitFinal(h.enqueue(enqueuer.Request{ID: "after", ClusterID: "c1", Nodes: uids(21, 1)}).RequestID, finalWithin); st.State != removal.StateSucceeded {
		t.Fatalf("after the loss: %s %q", st.State, st.Error)
	}
	if n := strings.Count(h.logs.String(), lostLine) + strings.Count(second.logs.String(), lostLine); n != 2 {
		t.Errorf("%d lines of a loss in all, want 2 (one per worker that saw it)", n)
	}
}

// A worker that starts on a fresh Redis, or on one with records written by
// a version before the marker, writes the marker and reports no loss.
func TestFirstStartIsNotALoss(t *testing.T) {
	for _, records := range []bool{false, true} {
		name := "FreshRedis"
		if records {
			name = "UpgradeWithRecords"
		}
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			h := newHarness(t, func(c *worker.Config, _ *ccetest.Options) {
				c.Metrics = metrics.New(reg, metrics.Options{})
				c.OrphanAfter = 300 * time.Millisecond // the record has no task: the sweep gives it one
			})
			h.dumpLogsOnFailure()
			if records {
				req, err := enqueuer.Request{ID: "old", ProjectID: project, ClusterID: "c1", Nodes: uids(22, 1), SSHKey: "k"}.Prepare()
				if err != nil {
					t.Fatal(err)
				}
				h.fake.AddNodes(project, "c1", req.Nodes...)
				if _, _, err := h.store.Create(t.Context(), req); err != nil {
					t.Fatal(err)
				}
			}
			h.start()
			if !strings.Contains(h.logs.String(), "Redis had no marker") {
				t.Errorf("the worker did not say it wrote the marker")
			}
			if n, err := h.rdb.Exists(t.Context(), markerKey).Result(); err != nil || n != 1 {
				t.Fatalf("marker: %d, %v", n, err)
			}
			if records {
				if st := h.waitFinal("old", finalWithin); st.State != removal.StateSucceeded {
					t.Errorf("the request from before the marker: %s %q", st.State, st.Error)
				}
			}
			if err := h.w.Ready(t.Context()); err != nil {
				t.Errorf("ready: %v", err)
			}
			if strings.Contains(h.logs.String(), lostLine) || lossMetric(t, reg) != 0 {
				t.Errorf("a first start was taken for a loss")
			}
			if n, _ := h.rdb.Exists(t.Context(), lossKey).Result(); n != 0 {
				t.Errorf("%s written on a first start", lossKey)
			}
		})
	}
}

// A Redis that restarts with its data (an append-only file) is an outage,
// not a loss: the worker says Redis answers again, with its data.
func TestRedisRestartedWithItsDataIsNotALoss(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarnessWith(t, redistest.Options{AppendOnly: true}, func(c *worker.Config, _ *ccetest.Options) {
		c.Metrics = metrics.New(reg, metrics.Options{})
	})
	if h.redis.Kind != redistest.KindServer {
		t.Skip("needs a private redis-server to restart")
	}
	h.dumpLogsOnFailure()
	h.start()
	h.redis.Stop(t)
	testkit.WaitFor(t, 10*time.Second, "the worker to say Redis does not answer", func() bool {
		return strings.Contains(h.logs.String(), "Redis does not answer")
	})
	h.redis.Restart(t)
	testkit.WaitFor(t, 10*time.Second, "the worker to say Redis answers again", func() bool {
		return strings.Contains(h.logs.String(), "Redis answers again, with its data")
	})
	if strings.Contains(h.logs.String(), lostLine) || lossMetric(t, reg) != 0 {
		t.Errorf("a restart that kept the data was taken for a loss")
	}
	if err := h.w.Ready(t.Context()); err != nil {
		t.Errorf("ready: %v", err)
	}
}
