package worker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/worker"
)

const (
	project = "0123456789abcdef0123456789abcdef"
	token   = "test-token-do-not-log"
)

// harness is one private Redis, one fake CCE, one worker and an enqueuer.
type harness struct {
	tb    testing.TB
	rdb   *redis.Client
	fake  *ccetest.Server
	enq   *enqueuer.Client
	w     *worker.Server
	logs  *testkit.SyncBuffer
	cfg   worker.Config
	redis *redistest.Server
	store *store.Store // another view of the worker's Redis
}

type harnessOption func(*worker.Config, *ccetest.Options)

// newHarness starts everything with timings fit for tests; the worker is
// started unless a test wants to start it itself.
func newHarness(tb testing.TB, opts ...harnessOption) *harness {
	tb.Helper()
	return newHarnessWith(tb, redistest.Options{}, opts...)
}

// newHarnessWith is newHarness on a Redis started with ro.
func newHarnessWith(tb testing.TB, ro redistest.Options, opts ...harnessOption) *harness {
	tb.Helper()
	h := &harness{tb: tb, logs: &testkit.SyncBuffer{}}
	h.redis = redistest.Start(tb, ro)
	h.rdb = h.redis.Client(tb)
	h.store = store.New(h.rdb, store.Options{})
	fo := ccetest.Options{JobDuration: 300 * time.Millisecond, Token: token}
	h.cfg = worker.Config{
		Concurrency:     8,
		RetryBackoffMin: 100 * time.Millisecond, RetryBackoffMax: 500 * time.Millisecond,
		PollIntervalMin: 200 * time.Millisecond, PollIntervalMax: 500 * time.Millisecond,
		PollFirstDelay: 200 * time.Millisecond, PollTimeout: time.Minute,
		CCETimeout: 2 * time.Second, ShutdownTimeout: 5 * time.Second,
		Logger: zerolog.New(h.logs).With().Timestamp().Logger(),
	}
	for _, o := range opts {
		o(&h.cfg, &fo)
	}
	h.fake = ccetest.NewServer(fo)
	tb.Cleanup(h.fake.Close)
	api, err := cce.New(cce.Config{Endpoint: h.fake.URL, Auth: cce.TokenAuth{Token: token}, Timeout: h.cfg.CCETimeout,
		Observe: h.cfg.Metrics.CCECalls("")})
	if err != nil {
		tb.Fatal(err)
	}
	var drainDefaults enqueuer.DrainDefaults
	if k, ok := h.cfg.Kube.(*kubeForTest); ok {
		k.issuer.api.Store(api)
		drainDefaults = enqueuer.DrainDefaults{Access: enqueuer.KubeAccessCCE, Enabled: true}
	}
	h.enq = enqueuer.New(h.rdb, enqueuer.Options{Drain: drainDefaults})
	tb.Cleanup(func() { _ = h.enq.Close() })
	h.w = worker.New(h.rdb, api, h.cfg)
	return h
}

func (h *harness) start() {
	h.tb.Helper()
	if err := h.w.Start(); err != nil {
		h.tb.Fatal(err)
	}
	h.tb.Cleanup(h.w.Shutdown)
}

// enqueue adds nodes to the fake and enqueues a request for them.
func (h *harness) enqueue(r enqueuer.Request) removal.Status {
	h.tb.Helper()
	if r.ProjectID == "" {
		r.ProjectID = project
	}
	if r.SSHKey == "" && r.Password == "" {
		r.SSHKey = "test-keypair"
	}
	h.fake.AddNodes(r.ProjectID, r.ClusterID, r.Nodes...)
	st, err := h.enq.Enqueue(h.tb.Context(), r)
	if err != nil {
		h.tb.Fatalf("enqueue %s: %v", r.ID, err)
	}
	return st
}

// waitFinal waits until request id is final and returns its status.
func (h *harness) waitFinal(id string, limit time.Duration) removal.Status {
	h.tb.Helper()
	var st removal.Status
	testkit.WaitFor(h.tb, limit, "request "+id+" final", func() bool {
		var err error
		st, err = h.enq.Status(h.tb.Context(), id)
		return err == nil && st.State.Final()
	})
	return st
}

// inspector reads the queue.
func (h *harness) inspector() *asynq.Inspector {
	i := asynq.NewInspectorFromRedisClient(h.rdb)
	h.tb.Cleanup(func() { _ = i.Close() })
	return i
}

// uids returns n node uids, distinct for each prefix.
func uids(prefix, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", prefix, i)
	}
	return out
}

// dumpLogsOnFailure prints the worker's log when the test fails.
func (h *harness) dumpLogsOnFailure() {
	h.tb.Cleanup(func() {
		if h.tb.Failed() {
			h.tb.Log(h.logs.String())
		}
	})
}
