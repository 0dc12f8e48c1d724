package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
)

// TestSmallPodUnderThrottling runs one worker process the way small
// deployments do, with few CPUs for its concurrency (GOMAXPROCS=1 and the
// default WORKER_CONCURRENCY=10; 2 CPUs with 20), against a CCE that takes
// 2 removals a second and answers the rest 429. Every request must finish,
// and the worker must never run out of Redis connections while Redis is
// healthy.
func TestSmallPodUnderThrottling(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes against a throttling CCE")
	}
	if !redistest.HaveServer() {
		t.Skip("needs redis-server")
	}
	for _, tc := range []struct {
		name        string
		procs       int
		concurrency int
	}{
		{"OneCPUDefaultConcurrency", 1, 10},
		{"TwoCPUsConcurrency20", 2, 20},
		{"OneCPUConcurrency40", 1, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const requests = 40
			srv := redistest.Start(t, redistest.Options{})
			checkEventsAtEnd(t, srv.URL)
			rdb := srv.Client(t)
			fake := ccetest.NewServer(ccetest.Options{Token: token, JobDuration: 200 * time.Millisecond, WriteRate: 2})
			t.Cleanup(fake.Close)
			env := []string{
				"REDIS_URL=" + srv.URL, "CCE_ENDPOINT=" + fake.URL, "CCE_AUTH_TOKEN=" + token,
				fmt.Sprintf("GOMAXPROCS=%d", tc.procs), fmt.Sprintf("WORKER_CONCURRENCY=%d", tc.concurrency),
				"CCE_WRITE_RATE=20/s", "CCE_READ_RATE=50/s", "CLUSTER_MAX_DISRUPTING=100%", "CLUSTER_MIN_NODES=0", "BATCH_WINDOW=0",
				"POLL_INTERVAL_MIN=200ms", "POLL_INTERVAL_MAX=1s", "POLL_FIRST_DELAY=200ms",
				"RETRY_BACKOFF_MIN=200ms", "RETRY_BACKOFF_MAX=2s", "LOG_LEVEL=warn", "HTTP_ADDR=127.0.0.1:0",
			}
			worker := proctest.Start(t, proctest.Binary(t, true), env, "worker")

			enq := enqueuer.New(rdb, enqueuer.Options{})
			defer enq.Close()
			ctx := t.Context()
			ids := make([]string, requests)
			for i := range ids {
				cluster := fmt.Sprintf("small-%02d", i)
				node := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
				fake.AddNodes(project, cluster, node)
				ids[i] = fmt.Sprintf("small-%02d", i)
				if _, err := enq.Enqueue(ctx, enqueuer.Request{ID: ids[i], ProjectID: project, ClusterID: cluster,
					Nodes: []string{node}, SSHKey: "small-key"}); err != nil {
					t.Fatal(err)
				}
			}
			store := store.New(rdb, store.Options{})
			testkit.WaitFor(t, 90*time.Second, "every request final", func() bool {
				n, err := store.OpenCount(t.Context())
				return err == nil && n == 0
			})
			for _, id := range ids {
				st, err := enq.Status(ctx, id)
				if err != nil || st.State != removal.StateSucceeded {
					t.Errorf("%s: %+v %v", id, st, err)
				}
			}
			if d := fake.DoubleRemovals(); len(d) > 0 {
				t.Errorf("nodes in two removals: %v", d)
			}
			for _, bad := range []string{"connection pool timeout", "Redis does not answer"} {
				if strings.Contains(worker.Stderr(), bad) {
					t.Errorf("the worker logged %q while Redis was healthy", bad)
				}
			}
		})
	}
}
