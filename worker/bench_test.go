package worker_test

import (
	"fmt"
	"io"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/benchkit"
	"github.com/noderemover/noderemover/tasks"
	"github.com/noderemover/noderemover/worker"
)

const (
	benchRemovals = 1000
	// benchClusters: one removal per cluster. The bare loop knows nothing of
	// clusters; the worker runs one job per cluster at a time (issue 4), so
	// this measures its cost per removal, not that wait.
	benchClusters    = benchRemovals
	benchConcurrency = 10
)

// BenchmarkRemovals runs 1000 single-node removals against the fake CCE
// with instant jobs, once through the worker and once through a bare asynq
// loop making the same calls (PUT, then one scheduled GET) on the same Redis,
// and reports both times, their ratio and the Redis commands each made per
// removal. Both are fed by the same number of concurrent producers and run
// with the same concurrency.
func BenchmarkRemovals(b *testing.B) {
	h := newHarness(b, func(c *worker.Config, o *ccetest.Options) {
		o.JobDuration = 0
		c.Concurrency = benchConcurrency
		c.PollFirstDelay = time.Nanosecond                          // the job is over at once: poll it straight away
		c.Logger = zerolog.New(io.Discard).Level(zerolog.InfoLevel) // info level, as in production
	})
	h.start()
	api, err := cce.New(cce.Config{Endpoint: h.fake.URL, Auth: cce.TokenAuth{Token: token}})
	if err != nil {
		b.Fatal(err)
	}
	bare := benchkit.StartBareLoop(b, h.rdb, api, project, benchConcurrency)

	var workerTime, bareTime time.Duration
	var workerCmds, bareCmds int64
	round := 0
	for b.Loop() {
		round++
		reqs := benchRequests(h, round*2)
		before := benchkit.RedisCommands(b, h.rdb)
		workerTime += benchkit.Drain(b, h.rdb, tasks.Queue, func() {
			benchkit.InParallel(b, reqs, func(r enqueuer.Request) error {
				_, err := h.enq.Enqueue(b.Context(), r)
				return err
			})
		})
		workerCmds += benchkit.RedisCommands(b, h.rdb) - before
		reqs = benchRequests(h, round*2+1)
		before = benchkit.RedisCommands(b, h.rdb)
		bareTime += benchkit.Drain(b, h.rdb, benchkit.BareQueue, func() {
			benchkit.InParallel(b, reqs, func(r enqueuer.Request) error { return bare.Enqueue(r.ClusterID, r.Nodes[0]) })
		})
		bareCmds += benchkit.RedisCommands(b, h.rdb) - before
	}
	n := time.Duration(round)
	b.ReportMetric((workerTime / n).Seconds(), "worker-s")
	b.ReportMetric((bareTime / n).Seconds(), "bare-s")
	b.ReportMetric(float64(workerTime)/float64(bareTime), "ratio")
	b.ReportMetric(float64(benchRemovals)/(workerTime/n).Seconds(), "worker-removals/s")
	b.ReportMetric(float64(workerCmds)/float64(round*benchRemovals), "worker-cmds/removal")
	b.ReportMetric(float64(bareCmds)/float64(round*benchRemovals), "bare-cmds/removal")
	if d := h.fake.DoubleRemovals(); len(d) > 0 {
		b.Fatalf("nodes removed twice: %v", d)
	}
}

// benchRequests makes 1000 single-node requests with fresh nodes.
func benchRequests(h *harness, round int) []enqueuer.Request {
	reqs := make([]enqueuer.Request, benchRemovals)
	for i := range reqs {
		cluster := fmt.Sprintf("bench-%d", i%benchClusters)
		node := benchkit.Node(round, i)
		h.fake.AddNodes(project, cluster, node)
		reqs[i] = enqueuer.Request{ID: fmt.Sprintf("bench-%d-%d", round, i), ProjectID: project, ClusterID: cluster,
			Nodes: []string{node}, SSHKey: "bench-key"}
	}
	return reqs
}

// BenchmarkNoticeLatency measures how long after a CCE job ends its
// request is recorded final, with POLL_INTERVAL_MIN=200ms.
func BenchmarkNoticeLatency(b *testing.B) {
	const jobDuration = time.Second
	h := newHarness(b, func(c *worker.Config, o *ccetest.Options) {
		o.JobDuration = jobDuration
		c.PollIntervalMin, c.PollIntervalMax, c.PollFirstDelay = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
		c.Logger = zerolog.New(io.Discard)
	})
	h.start()
	var lags []time.Duration
	round := 0
	for b.Loop() {
		round++
		ids := make([]string, 10)
		for i := range ids {
			ids[i] = fmt.Sprintf("lag-%d-%d", round, i)
			h.enqueue(enqueuer.Request{ID: ids[i], ClusterID: fmt.Sprintf("lag-%d", i),
				Nodes: []string{fmt.Sprintf("%08x-0000-4000-8000-%012x", round, i)}})
		}
		for _, id := range ids {
			h.waitFinal(id, time.Minute)
		}
		for _, rm := range h.fake.Removals()[len(lags):] {
			st, err := recordOfJob(h, ids, rm.JobID)
			if err != nil {
				b.Fatal(err)
			}
			lags = append(lags, st.Sub(rm.At.Add(jobDuration)))
		}
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	var sum time.Duration
	for _, l := range lags {
		sum += l
	}
	b.ReportMetric(float64(sum.Milliseconds())/float64(len(lags)), "mean-lag-ms")
	b.ReportMetric(float64(lags[len(lags)*95/100].Milliseconds()), "p95-lag-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Milliseconds()), "max-lag-ms")
}

// recordOfJob returns when the request that ran job was recorded final.
func recordOfJob(h *harness, ids []string, job string) (time.Time, error) {
	for _, id := range ids {
		st, err := h.enq.Status(h.tb.Context(), id)
		if err != nil {
			return time.Time{}, err
		}
		if st.JobID == job {
			return st.UpdatedAt, nil
		}
	}
	return time.Time{}, fmt.Errorf("no request ran job %s", job)
}
