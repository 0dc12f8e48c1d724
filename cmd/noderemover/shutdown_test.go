package main

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
)

func httpGet(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWorkerProcess runs the worker binary against a fake CCE in this test
// and checks its HTTP endpoints and what SIGTERM does to a handler that is
// waiting on CCE: one that finishes within SHUTDOWN_TIMEOUT records its
// outcome; one cut off leaves a record the next worker reconciles.
func TestWorkerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	cases := []struct {
		name            string
		delay           time.Duration // of the RemoveNode answer
		shutdownTimeout string
		wantAfterStop   removal.State
	}{
		{"FinishesWithinShutdownTimeout", 2 * time.Second, "15s", removal.StatePolling},
		{"CutOffThenReconciled", time.Minute, "1s", removal.StateSubmitting},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{})
			if srv.Kind != redistest.KindServer {
				t.Skip("needs redis-server")
			}
			fake := ccetest.NewServer(ccetest.Options{Token: "process-token-0123", JobDuration: 200 * time.Millisecond})
			t.Cleanup(fake.Close)
			nodes := []string{uid(100 + i), uid(200 + i)}
			fake.AddNodes(demoProject, "c1", nodes...)
			fake.Inject(ccetest.OpRemoveNodes, 1, ccetest.Fault{Delay: tc.delay})

			httpAddr := freeAddr(t)
			env := []string{"REDIS_URL=" + srv.URL, "CCE_ENDPOINT=" + fake.URL, "CCE_AUTH_TOKEN=process-token-0123",
				"HTTP_ADDR=" + httpAddr, "SHUTDOWN_TIMEOUT=" + tc.shutdownTimeout, "CCE_TIMEOUT=3s",
				"POLL_INTERVAL_MIN=200ms", "POLL_INTERVAL_MAX=500ms", "RETRY_BACKOFF_MIN=100ms",
				"CLUSTER_MAX_DISRUPTING=100%", "CLUSTER_MIN_NODES=0"} // both nodes of a two-node cluster
			w := startProc(t, env, "worker")
			testkit.WaitFor(t, 20*time.Second, "worker ready", func() bool {
				code, _ := httpGet(t, "http://"+httpAddr+"/readyz")
				return code == 200
			})

			ctx := t.Context()
			rdb := srv.Client(t)
			enq := enqueuer.New(rdb, enqueuer.Options{})
			defer enq.Close()
			if _, err := enq.Enqueue(ctx, enqueuer.Request{ID: "in-flight", ProjectID: demoProject, ClusterID: "c1", Nodes: nodes, SSHKey: "k"}); err != nil {
				t.Fatal(err)
			}
			testkit.WaitFor(t, 20*time.Second, "RemoveNode call under way", func() bool { return fake.Calls(ccetest.OpRemoveNodes) == 1 })
			if code, body := httpGet(t, "http://"+httpAddr+"/metrics"); code != 200 ||
				!strings.Contains(body, `asynq_queue_size{queue="removals"}`) || !strings.Contains(body, "noderemover_requests_in_flight 1") ||
				!strings.Contains(body, "noderemover_paused_all 0") || !strings.Contains(body, "noderemover_paused_clusters 0") ||
				!strings.Contains(body, "\nnoderemover_oldest_open_request_age_seconds ") || strings.Contains(body, "noderemover_oldest_open_request_age_seconds -1") {
				t.Fatalf("/metrics: %d\n%s", code, body)
			}

			stopped := time.Now()
			if err := w.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := w.Wait(t, 40*time.Second); err != nil {
				t.Fatalf("worker exit: %v\n%s", err, w.Stderr())
			}
			t.Logf("worker exited %v after SIGTERM", time.Since(stopped).Round(time.Millisecond))
			st, err := enq.Status(ctx, "in-flight")
			if err != nil || st.State != tc.wantAfterStop || st.Attempts != 1 {
				t.Fatalf("after shutdown: %+v %v; want %s after 1 attempt", st, err, tc.wantAfterStop)
			}

			// The next worker takes over and finishes the request, sending nothing twice.
			startProc(t, env, "worker")
			testkit.WaitFor(t, 60*time.Second, "request final", func() bool {
				st, err = enq.Status(ctx, "in-flight")
				return err == nil && st.State.Final()
			})
			if st.State != removal.StateSucceeded {
				t.Fatalf("final: %+v", st)
			}
			if d := fake.DoubleRemovals(); len(d) > 0 {
				t.Fatalf("nodes removed twice: %v", d)
			}
			if n := len(fake.Removals()); n != 1 {
				t.Fatalf("%d removals accepted, want 1", n)
			}
		})
	}
}
