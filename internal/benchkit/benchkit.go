// Package benchkit is what the benchmarks measure the worker against and
// with: the bare loop (the least a queue-driven remover must do), the time
// to drain a queue, Redis's own command count, and producers enqueueing in
// parallel. It is for benchmarks only.
package benchkit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/internal/testkit"
)

// Producers is how many goroutines enqueue at once, as a fleet of
// producers would; the worker and the bare loop get the same.
const Producers = 8

// BareQueue is the bare loop's asynq queue.
const BareQueue = "bare"

const (
	bareSubmit = "bare:submit"
	barePoll   = "bare:poll"
)

// BareLoop makes the same CCE calls as the worker with nothing else: a task
// that makes the PUT and schedules a poll, and a poll task that makes the
// GET.
type BareLoop struct {
	q       *asynq.Client
	project string
}

// StartBareLoop runs a bare loop of the given concurrency on rdb against
// api, for project, until the benchmark ends.
func StartBareLoop(tb testing.TB, rdb redis.UniversalClient, api *cce.Client, project string, concurrency int) *BareLoop {
	tb.Helper()
	q := asynq.NewClientFromRedisClient(rdb)
	tb.Cleanup(func() { _ = q.Close() })
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: concurrency, Queues: map[string]int{BareQueue: 1},
		DelayedTaskCheckInterval: 100 * time.Millisecond, TaskCheckInterval: 100 * time.Millisecond,
		Logger: testkit.Quiet{},
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(bareSubmit, func(ctx context.Context, t *asynq.Task) error {
		cluster, node, _ := strings.Cut(string(t.Payload()), " ")
		job, err := api.RemoveNodes(ctx, project, cluster, cce.Login{SSHKey: "bench-key"}, []string{node})
		if err != nil {
			return err
		}
		_, err = q.EnqueueContext(ctx, asynq.NewTask(barePoll, []byte(job)), asynq.Queue(BareQueue))
		return err
	})
	mux.HandleFunc(barePoll, func(ctx context.Context, t *asynq.Task) error {
		_, err := api.ShowJob(ctx, project, string(t.Payload()))
		return err
	})
	if err := srv.Start(mux); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Shutdown)
	return &BareLoop{q: q, project: project}
}

// Enqueue asks the bare loop to remove one node of a cluster.
func (l *BareLoop) Enqueue(cluster, node string) error {
	_, err := l.q.Enqueue(asynq.NewTask(bareSubmit, []byte(cluster+" "+node)), asynq.Queue(BareQueue))
	return err
}

// Drain times enqueue and the processing of everything it queued on queue.
func Drain(tb testing.TB, rdb redis.UniversalClient, queue string, enqueue func()) time.Duration {
	tb.Helper()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	defer insp.Close()
	start := time.Now()
	enqueue()
	testkit.WaitFor(tb, 5*time.Minute, "queue "+queue+" drained", func() bool {
		q, err := insp.GetQueueInfo(queue)
		return err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0
	})
	return time.Since(start)
}

// InParallel calls do for every item from Producers goroutines.
func InParallel[T any](tb testing.TB, items []T, do func(T) error) {
	var wg sync.WaitGroup
	next := make(chan T)
	for range Producers {
		wg.Go(func() {
			for it := range next {
				if err := do(it); err != nil {
					tb.Error(err)
				}
			}
		})
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
}

// RedisCommands is how many commands Redis has run so far, from INFO
// commandstats (commands run by scripts included), less the INFO calls
// themselves.
func RedisCommands(tb testing.TB, rdb redis.UniversalClient) int64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
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
			tb.Fatalf("commandstats line %q: %v", line, err)
		}
		total += n
	}
	return total
}

// Node is a node uid unique to round and i.
func Node(round, i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", round, i) }
