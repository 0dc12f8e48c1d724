package worker_test

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/testkit"
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
// and reports both times and their ratio. Both are fed by the same number of
// concurrent producers and run with the same concurrency.
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
	bare := newBareLoop(b, h, api)

	var workerTime, bareTime time.Duration
	var workerCmds, bareCmds int64
	round := 0
	for b.Loop() {
		round++
		reqs := benchRequests(h, round*2)
		before := redisCommands(b, h)
		workerTime += timeDrain(b, h, tasks.Queue, func() {
			inParallel(b, reqs, func(r enqueuer.Request) error {
				_, err := h.enq.Enqueue(b.Context(), r)
				return err
			})
		})
		workerCmds += redisCommands(b, h) - before
		reqs = benchRequests(h, round*2+1)
		before = redisCommands(b, h)
		bareTime += timeDrain(b, h, bareQueue, func() { inParallel(b, reqs, bare.enqueue) })
		bareCmds += redisCommands(b, h) - before
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

// redisCommands is how many commands Redis has run so far, from INFO
// commandstats (commands run by scripts included), less the INFO calls
// themselves.
func redisCommands(b *testing.B, h *harness) int64 {
	info, err := h.rdb.Info(b.Context(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			b.Fatalf("commandstats line %q: %v", line, err)
		}
		total += n
	}
	return total
}

// benchRequests makes 1000 single-node requests with fresh nodes.
func benchRequests(h *harness, round int) []enqueuer.Request {
	reqs := make([]enqueuer.Request, benchRemovals)
	for i := range reqs {
		cluster := fmt.Sprintf("bench-%d", i%benchClusters)
		node := fmt.Sprintf("%08x-0000-4000-8000-%012x", round, i)
		h.fake.AddNodes(project, cluster, node)
		reqs[i] = enqueuer.Request{ID: fmt.Sprintf("bench-%d-%d", round, i), ProjectID: project, ClusterID: cluster,
			Nodes: []string{node}, SSHKey: "bench-key"}
	}
	return reqs
}

// timeDrain times enqueue() and the processing of everything it queued.
func timeDrain(b *testing.B, h *harness, queue string, enqueue func()) time.Duration {
	insp := h.inspector()
	start := time.Now()
	enqueue()
	testkit.WaitFor(b, 5*time.Minute, "queue drained", func() bool {
		q, err := insp.GetQueueInfo(queue)
		return err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0
	})
	return time.Since(start)
}

// bareLoop is the least a queue-driven remover must do: a task that makes
// the PUT and schedules a poll, and a poll task that makes the GET.
type bareLoop struct {
	q *asynq.Client
}

const (
	bareQueue  = "bare"
	bareSubmit = "bare:submit"
	barePoll   = "bare:poll"
)

func newBareLoop(b *testing.B, h *harness, api *cce.Client) *bareLoop {
	q := asynq.NewClientFromRedisClient(h.rdb)
	b.Cleanup(func() { _ = q.Close() })
	srv := asynq.NewServerFromRedisClient(h.rdb, asynq.Config{
		Concurrency: benchConcurrency, Queues: map[string]int{bareQueue: 1},
		DelayedTaskCheckInterval: 100 * time.Millisecond, TaskCheckInterval: 100 * time.Millisecond,
		Logger: quietLogger{},
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(bareSubmit, func(ctx context.Context, t *asynq.Task) error {
		var cluster, node string
		fmt.Sscanf(string(t.Payload()), "%s %s", &cluster, &node)
		job, err := api.RemoveNodes(ctx, project, cluster, cce.Login{SSHKey: "bench-key"}, []string{node})
		if err != nil {
			return err
		}
		_, err = q.EnqueueContext(ctx, asynq.NewTask(barePoll, []byte(job)), asynq.Queue(bareQueue))
		return err
	})
	mux.HandleFunc(barePoll, func(ctx context.Context, t *asynq.Task) error {
		_, err := api.ShowJob(ctx, project, string(t.Payload()))
		return err
	})
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
	return &bareLoop{q: q}
}

func (l *bareLoop) enqueue(r enqueuer.Request) error {
	payload := r.ClusterID + " " + r.Nodes[0]
	_, err := l.q.Enqueue(asynq.NewTask(bareSubmit, []byte(payload)), asynq.Queue(bareQueue))
	return err
}

// benchProducers is how many goroutines enqueue at once, as a fleet of
// producers would; both loops get the same.
const benchProducers = 8

// inParallel runs enqueue for every request from benchProducers goroutines.
func inParallel(b *testing.B, reqs []enqueuer.Request, enqueue func(enqueuer.Request) error) {
	var wg sync.WaitGroup
	next := make(chan enqueuer.Request)
	for range benchProducers {
		wg.Go(func() {
			for r := range next {
				if err := enqueue(r); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for _, r := range reqs {
		next <- r
	}
	close(next)
	wg.Wait()
}

type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(...any) {}

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
