package test

import (
	"fmt"
	"math"
	"sync"
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

const (
	project = "0123456789abcdef0123456789abcdef"
	token   = "backlog-token-0123456789"
)

// backlog is one run: Requests single-node requests over Clusters clusters,
// drained by Workers worker processes sharing one Redis.
type backlog struct {
	Requests, Clusters, Workers int
	Window                      time.Duration // BATCH_WINDOW; 0: no merging
	WriteRate, ReadRate         float64       // per second, for the workers and the fake CCE
	JobDuration                 time.Duration
	Race                        bool // build the workers with the race detector
}

// backlogResult is what a run cost and took.
type backlogResult struct {
	Elapsed   time.Duration // first enqueue to last request final
	Ideal     time.Duration // one batch window plus one job per round
	Accepted  int           // RemoveNode calls CCE accepted
	Calls     int           // RemoveNode calls CCE received
	Answers   int           // 429 answers, any call
	Throttled string        // which calls got them
	Rounds    int           // the most accepted calls one cluster took
	Polls     int           // ShowJob calls
	NodesSent int           // nodes in accepted calls
}

func runBacklog(tb testing.TB, b backlog) backlogResult {
	tb.Helper()
	srv := redistest.Start(tb, redistest.Options{})
	checkEventsAtEnd(tb, srv.URL)
	rdb := srv.Client(tb)
	fake := ccetest.NewServer(ccetest.Options{Token: token, JobDuration: b.JobDuration,
		WriteRate: b.WriteRate, ReadRate: b.ReadRate})
	tb.Cleanup(fake.Close)

	reqs := make([]enqueuer.Request, b.Requests)
	for i := range reqs {
		cluster := fmt.Sprintf("cluster-%d", i%b.Clusters)
		node := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		fake.AddNodes(project, cluster, node)
		reqs[i] = enqueuer.Request{ID: fmt.Sprintf("backlog-%d", i), ProjectID: project, ClusterID: cluster,
			Nodes: []string{node}, SSHKey: "backlog-key"}
	}

	env := []string{
		"REDIS_URL=" + srv.URL, "CCE_ENDPOINT=" + fake.URL, "CCE_AUTH_TOKEN=" + token,
		fmt.Sprintf("CCE_WRITE_RATE=%g/s", b.WriteRate), fmt.Sprintf("CCE_READ_RATE=%g/s", b.ReadRate),
		"CLUSTER_MAX_DISRUPTING=100%", "CLUSTER_MIN_NODES=0", "BATCH_WINDOW=" + b.Window.String(), "WORKER_CONCURRENCY=20",
		"POLL_INTERVAL_MIN=200ms", "POLL_INTERVAL_MAX=1s", "POLL_FIRST_DELAY=" + b.JobDuration.String(),
		"RETRY_BACKOFF_MIN=200ms", "RETRY_BACKOFF_MAX=2s", "LOG_LEVEL=warn", "HTTP_ADDR=127.0.0.1:0",
	}
	bin := proctest.Binary(tb, b.Race)
	for range b.Workers {
		proctest.Start(tb, bin, env, "worker")
	}

	enq := enqueuer.New(rdb, enqueuer.Options{})
	defer enq.Close()
	store := store.New(rdb, store.Options{})
	ctx := tb.Context()
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan enqueuer.Request)
	for range 8 {
		wg.Go(func() {
			for r := range next {
				if _, err := enq.Enqueue(ctx, r); err != nil {
					tb.Error(err)
				}
			}
		})
	}
	for _, r := range reqs {
		next <- r
	}
	close(next)
	wg.Wait()
	lastLog := time.Now()
	testkit.WaitFor(tb, 10*time.Minute, "every request final", func() bool {
		n, err := store.OpenCount(ctx)
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			tb.Logf("%v: %d requests open, %d RemoveNode calls, %d accepted", time.Since(start).Round(time.Second), n,
				fake.Calls(ccetest.OpRemoveNodes), len(fake.Removals()))
		}
		return err == nil && n == 0
	})
	res := backlogResult{Elapsed: time.Since(start)}

	for _, r := range reqs {
		st, err := enq.Status(ctx, r.ID)
		if err != nil {
			tb.Fatal(err)
		}
		if st.State != removal.StateSucceeded || st.JobID == "" || len(st.Nodes) != 1 ||
			st.Nodes[0].UID != r.Nodes[0] || st.Nodes[0].State != removal.NodeRemoved {
			tb.Fatalf("%s: %+v", r.ID, st)
		}
	}
	if d := fake.DoubleRemovals(); len(d) > 0 {
		tb.Fatalf("nodes in two removals: %v", d)
	}
	perCluster := map[string][]ccetest.Removal{}
	for _, rm := range fake.Removals() {
		perCluster[rm.ClusterID] = append(perCluster[rm.ClusterID], rm)
		res.NodesSent += len(rm.Nodes)
	}
	for cluster, rms := range perCluster {
		res.Rounds = max(res.Rounds, len(rms))
		for i := 1; i < len(rms); i++ {
			if rms[i].At.Before(rms[i-1].At.Add(b.JobDuration)) {
				tb.Errorf("cluster %s: a removal started %v before the previous job ended", cluster, rms[i-1].At.Add(b.JobDuration).Sub(rms[i].At))
			}
		}
	}
	perRound := float64(b.Requests/b.Clusters) / float64(removal.MaxNodes)
	if b.Window == 0 {
		perRound = float64(b.Requests / b.Clusters)
	}
	rounds := time.Duration(math.Ceil(perRound))
	res.Ideal = rounds * (b.Window + b.JobDuration)
	res.Accepted = len(fake.Removals())
	res.Calls = fake.Calls(ccetest.OpRemoveNodes)
	res.Answers = fake.Answers(ccetest.OpAny, 429)
	for _, op := range []ccetest.Op{ccetest.OpRemoveNodes, ccetest.OpShowJob, ccetest.OpShowNode, ccetest.OpShowCluster, ccetest.OpListNodes} {
		if n := fake.Answers(op, 429); n > 0 {
			res.Throttled += fmt.Sprintf("%s:%d ", op, n)
		}
	}
	res.Polls = fake.Calls(ccetest.OpShowJob)
	return res
}

// TestBacklogThreeWorkers is the scenario with real processes: three
// workers sharing one Redis drain 600 single-node requests over 6 clusters
// against a CCE that allows 5 removals and 50 reads a second, one job per
// cluster at a time.
func TestBacklogThreeWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three worker processes")
	}
	if !redistest.HaveServer() {
		t.Skip("needs redis-server")
	}
	res := runBacklog(t, backlog{Requests: 600, Clusters: 6, Workers: 3, Window: 2 * time.Second,
		WriteRate: 5, ReadRate: 50, JobDuration: time.Second, Race: true})
	t.Logf("%+v", res)
	// The slots are spaced for 90% of CCE's rate; a call the loaded machine
	// holds back past that margin (the race detector, three processes on
	// two cores) can land in the same second as the next one and take one
	// 429, which the limiter then answers by slowing down. More than one
	// means the workers do not share the limit.
	if res.Answers > 1 {
		t.Errorf("CCE answered 429 %d times (%s)", res.Answers, res.Throttled)
	}
	if res.NodesSent != 600 {
		t.Errorf("%d nodes sent in accepted calls, want each of the 600 once", res.NodesSent)
	}
	// All 600 are enqueued well within the batch window, so one call per
	// cluster takes them all; a loaded machine may split a cluster in two.
	if res.Accepted > 12 || res.Rounds > 2 {
		t.Errorf("%d accepted calls, at most %d for one cluster; want about one per cluster", res.Accepted, res.Rounds)
	}
}

// BenchmarkBacklog measures the scenario with and without merging:
// CCE calls per node, 429s, time against the ideal, polls per job.
func BenchmarkBacklog(b *testing.B) {
	if !redistest.HaveServer() {
		b.Skip("needs redis-server")
	}
	for _, tc := range []struct {
		name   string
		window time.Duration
	}{{"merging", 2 * time.Second}, {"no-merging", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			var res backlogResult
			for b.Loop() {
				res = runBacklog(b, backlog{Requests: 600, Clusters: 6, Workers: 3, Window: tc.window,
					WriteRate: 5, ReadRate: 50, JobDuration: time.Second})
			}
			b.ReportMetric(float64(res.Accepted), "removal-calls")
			b.ReportMetric(float64(res.Calls)/600, "calls/node")
			b.ReportMetric(float64(res.Answers), "429s")
			b.ReportMetric(res.Elapsed.Seconds(), "s-to-drain")
			b.ReportMetric(res.Ideal.Seconds(), "s-ideal")
			b.ReportMetric(float64(res.Polls)/float64(max(res.Accepted, 1)), "polls/job")
		})
	}
}
