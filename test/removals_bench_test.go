package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/benchkit"
	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/tasks"
)

// BenchmarkRemovalsProcess is worker.BenchmarkRemovals with the worker as
// the binary runs in production, a process of its own configured from the
// environment (CCE_WRITE_RATE=off, CCE_READ_RATE=off: the worker's own
// cost, not CCE's limits), against the same bare loop on the same Redis:
// 1000 single-node removals, one per cluster, instant jobs, concurrency 10.
func BenchmarkRemovalsProcess(b *testing.B) {
	if !redistest.HaveServer() {
		b.Skip("needs redis-server")
	}
	const removals, concurrency = 1000, 10
	srv := redistest.Start(b, redistest.Options{})
	rdb := srv.Client(b)
	fake := ccetest.NewServer(ccetest.Options{Token: token})
	b.Cleanup(fake.Close)
	proctest.Start(b, proctest.Binary(b, false), []string{
		"REDIS_URL=" + srv.URL, "CCE_ENDPOINT=" + fake.URL, "CCE_AUTH_TOKEN=" + token,
		"CCE_WRITE_RATE=off", "CCE_READ_RATE=off", "CLUSTER_MAX_DISRUPTING=100%", "CLUSTER_MIN_NODES=0", "BATCH_WINDOW=0", fmt.Sprintf("WORKER_CONCURRENCY=%d", concurrency),
		"POLL_INTERVAL_MIN=200ms", "POLL_INTERVAL_MAX=1s", "POLL_FIRST_DELAY=10ms", "LOG_LEVEL=info", "HTTP_ADDR=127.0.0.1:0",
	}, "worker")
	api, err := cce.New(cce.Config{Endpoint: fake.URL, Auth: cce.TokenAuth{Token: token}})
	if err != nil {
		b.Fatal(err)
	}
	bare := benchkit.StartBareLoop(b, rdb, api, project, concurrency)
	enq := enqueuer.New(rdb, enqueuer.Options{})
	b.Cleanup(func() { _ = enq.Close() })

	requests := func(round int) []enqueuer.Request {
		reqs := make([]enqueuer.Request, removals)
		for i := range reqs {
			cluster, node := fmt.Sprintf("bench-%d", i), benchkit.Node(round, i)
			fake.AddNodes(project, cluster, node)
			reqs[i] = enqueuer.Request{ID: fmt.Sprintf("bench-%d-%d", round, i), ProjectID: project, ClusterID: cluster,
				Nodes: []string{node}, SSHKey: "bench-key"}
		}
		return reqs
	}
	var workerTime, bareTime time.Duration
	var workerCmds, bareCmds int64
	round := 0
	for b.Loop() {
		round++
		reqs := requests(2 * round)
		before := benchkit.RedisCommands(b, rdb)
		workerTime += benchkit.Drain(b, rdb, tasks.Queue, func() {
			benchkit.InParallel(b, reqs, func(r enqueuer.Request) error { _, err := enq.Enqueue(b.Context(), r); return err })
		})
		workerCmds += benchkit.RedisCommands(b, rdb) - before
		reqs = requests(2*round + 1)
		before = benchkit.RedisCommands(b, rdb)
		bareTime += benchkit.Drain(b, rdb, benchkit.BareQueue, func() {
			benchkit.InParallel(b, reqs, func(r enqueuer.Request) error { return bare.Enqueue(r.ClusterID, r.Nodes[0]) })
		})
		bareCmds += benchkit.RedisCommands(b, rdb) - before
	}
	n := time.Duration(round)
	b.ReportMetric((workerTime / n).Seconds(), "worker-s")
	b.ReportMetric((bareTime / n).Seconds(), "bare-s")
	b.ReportMetric(float64(workerTime)/float64(bareTime), "ratio")
	b.ReportMetric(float64(workerCmds)/float64(round*removals), "worker-cmds/removal")
	b.ReportMetric(float64(bareCmds)/float64(round*removals), "bare-cmds/removal")
	if d := fake.DoubleRemovals(); len(d) > 0 {
		b.Fatalf("nodes removed twice: %v", d)
	}
}
