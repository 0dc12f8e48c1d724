package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/drain"
	"github.com/noderemover/noderemover/internal/kubetest"
	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// The chaos run: how much work, how much damage.
const (
	chaosRequests = 200
	chaosClusters = 20
	chaosWorkers  = 3
	chaosFor      = 40 * time.Second // killing workers for this long
	chaosKillEach = 2 * time.Second  // one SIGKILL this often
	chaosRedisAt  = 15 * time.Second // Redis stops this far into the run
	chaosRedisOff = 3 * time.Second  // and stays down this long
	chaosArrivals = 25 * time.Second // requests arrive over this long, through the outage
	chaosSettle   = 3 * time.Minute  // afterwards, every request is final within this
	chaosDrained  = 6                // requests whose node's Pod moves to a spare Node first
	chaosDrainOut = 2                // requests whose drain times out (a bare Pod): failed, uncordoned
)

// chaosNode is what the fake CCE does with a request's one node.
type chaosNode int

const (
	nodeRemovable chaosNode = iota // removed
	nodeFails                      // its removal job fails (FailRemoval)
	nodeMissing                    // not in the cluster: CCE answers 404 naming it
	nodeHeldBack                   // its drain times out (on_timeout fail): never sent to CCE
)

// TestChaos is the crash test: three worker processes against a private
// redis-server with an append-only file drain 200 single-node requests over
// 20 clusters while one worker is SIGKILLed and started again every couple
// of seconds, Redis itself is stopped and started once, and the fake CCE
// answers some calls with 5xx or 429 and accepts some removals but cuts the
// connection before answering. Afterwards every request is final with the
// outcome its node calls for, no node was in two accepted removals, and
// every removable node is gone.
//
// The clusters' Kubernetes is the shared control plane: a few requests drain
// their node first (its Pod moves to a spare Node before CCE is asked to
// remove it), and a few drains time out and fail, leaving their Node
// uncordoned, all while workers are killed.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts worker processes and Redis for about three minutes")
	}
	if !redistest.HaveServer() {
		t.Skip("needs redis-server: stopping and restarting Redis is part of the test")
	}
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	checkEventsAtEnd(t, srv.URL)
	rdb := srv.Client(t)
	fake := newDrainFake(t, ccetest.Options{Token: token, JobDuration: time.Second, WriteRate: 20, ReadRate: 100})
	fake.SetRandomFaults(ccetest.RandomFaults{Seed: 5, Error5xx: 0.1, Throttle: 0.1, LoseAnswer: 0.05,
		ReadError5xx: 0.05, ReadThrottle: 0.05, RetryAfter: "1"})
	// The first kubeconfigs asked for fail whatever the draws: a drain
	// retries them.
	fake.Inject(ccetest.OpClusterCert, 2, ccetest.Fault{Status: http.StatusServiceUnavailable})
	ns := fake.cp.Namespace(t)
	for c := range chaosClusters {
		fake.cluster(fmt.Sprintf("chaos-%02d", c))
	}
	var drained []*corev1.Node // the Nodes whose Pod moves
	drainOn, drainShort := true, enqueuer.Duration(3*time.Second)

	// Every tenth request's node fails in CCE, every tenth (offset by five)
	// does not exist; the rest are removed. Of those, a few drain first.
	want := make([]chaosNode, chaosRequests)
	reqs := make([]enqueuer.Request, chaosRequests)
	for i := range reqs {
		cluster := fmt.Sprintf("chaos-%02d", i%chaosClusters)
		node := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		var ask *enqueuer.DrainOptions
		switch {
		case i%10 == 3:
			want[i] = nodeFails
			fake.AddNodes(project, cluster, node)
			fake.FailRemoval(node)
		case i%10 == 8:
			want[i] = nodeMissing
			fake.AddNodes(project, cluster) // the cluster exists, the node does not
		case i%10 == 1 && i < 10*chaosDrained:
			want[i] = nodeRemovable
			drained = append(drained, fake.node(t, cluster, node, true))
			ask = &enqueuer.DrainOptions{Enabled: &drainOn}
		case i%10 == 6 && i < 10*chaosDrainOut:
			want[i] = nodeHeldBack
			n := fake.node(t, cluster, node, false)
			fake.cp.Pod(t, ns, kubetest.Name(t, "bare"), n.Name, nil) // no controller: not evicted without force
			ask = &enqueuer.DrainOptions{Enabled: &drainOn, Timeout: &drainShort}
		default:
			want[i] = nodeRemovable
			fake.AddNodes(project, cluster, node)
		}
		reqs[i] = enqueuer.Request{ID: fmt.Sprintf("chaos-%03d", i), ProjectID: project, ClusterID: cluster,
			Nodes: []string{node}, SSHKey: "chaos-key", Drain: ask}
	}
	spare := fake.cp.AddNode(t, kubetest.Name(t, "spare"), "10.150.255.3", nil)
	pods := movablePods(t, fake.cp, ns, spare, drained...)

	env := []string{
		"REDIS_URL=" + srv.URL, "CCE_ENDPOINT=" + fake.URL, "CCE_AUTH_TOKEN=" + token,
		"KUBE_ACCESS=cce", "DRAIN_INTERVAL=200ms",
		"CCE_WRITE_RATE=20/s", "CCE_READ_RATE=100/s", "CLUSTER_MAX_DISRUPTING=100%", "CLUSTER_MIN_NODES=0", "BATCH_WINDOW=500ms", "WORKER_CONCURRENCY=20",
		"POLL_INTERVAL_MIN=200ms", "POLL_INTERVAL_MAX=1s", "POLL_FIRST_DELAY=1s",
		"RETRY_BACKOFF_MIN=200ms", "RETRY_BACKOFF_MAX=2s", "CCE_TIMEOUT=2s",
		"LOG_LEVEL=debug", "HTTP_ADDR=127.0.0.1:0", // kept in memory; shown for what did not settle
	}
	bin := proctest.Binary(t, true)
	workers := make([]*proctest.Proc, chaosWorkers)
	var all []*proctest.Proc // every worker process of the run, killed or not
	startWorker := func() *proctest.Proc {
		p := proctest.Start(t, bin, env, "worker")
		all = append(all, p)
		return p
	}
	for i := range workers {
		workers[i] = startWorker()
	}

	enq := enqueuer.New(rdb, enqueuer.Options{Drain: enqueuer.DrainDefaults{Access: enqueuer.KubeAccessCCE}})
	defer enq.Close()
	store := store.New(rdb, store.Options{})
	ctx := t.Context()
	start := time.Now()

	// Producers enqueue over the first seconds of the run, through the
	// Redis outage: a failed enqueue is tried again with the same request
	// ID, which is safe because enqueueing is idempotent.
	var producers sync.WaitGroup
	next := make(chan enqueuer.Request)
	var enqueueErrors sync.Map
	for range 4 {
		producers.Go(func() {
			for r := range next {
				for {
					if _, err := enq.Enqueue(ctx, r); err == nil {
						break
					} else if time.Since(start) > chaosFor {
						t.Errorf("%s: still not enqueued after %v: %v", r.ID, chaosFor, err)
						break
					} else {
						enqueueErrors.Store(r.ID, err.Error())
					}
					time.Sleep(200 * time.Millisecond) // a producer's pause before trying again
				}
			}
		})
	}
	go func() {
		defer close(next)
		for _, r := range reqs {
			next <- r
			time.Sleep(chaosArrivals / chaosRequests) // spread arrivals over the outage too
		}
	}()

	// The damage: a SIGKILL every chaosKillEach, Redis down once.
	rng := rand.New(rand.NewPCG(7, 7))
	kills := 0
	redisDown := false
	for tick := time.NewTicker(chaosKillEach); time.Since(start) < chaosFor; <-tick.C {
		if !redisDown && time.Since(start) >= chaosRedisAt {
			redisDown = true
			t.Logf("%v: stopping Redis", time.Since(start).Round(time.Millisecond))
			srv.Stop(t)
			time.Sleep(chaosRedisOff) // the outage itself
			srv.Restart(t)
			t.Logf("%v: Redis is back", time.Since(start).Round(time.Millisecond))
			for i, w := range workers {
				if w.Exited() {
					t.Errorf("worker %d exited by itself during the Redis outage:\n%s", i, w.Stderr())
				}
			}
			continue
		}
		i := rng.IntN(len(workers))
		workers[i].Kill()
		workers[i] = startWorker()
		kills++
	}
	producers.Wait()
	t.Logf("%v: chaos over: %d workers killed; %d RemoveNode calls, %d accepted, %d lost answers so far",
		time.Since(start).Round(time.Millisecond), kills, fake.Calls(ccetest.OpRemoveNodes), len(fake.Removals()),
		fake.Answers(ccetest.OpRemoveNodes, 0))

	settled := false
	t.Cleanup(func() {
		if !settled {
			dumpOpen(t, rdb, store, all)
		}
	})
	lastLog := time.Now()
	testkit.WaitFor(t, chaosSettle, "every request final", func() bool {
		n, err := store.OpenCount(ctx)
		if time.Since(lastLog) > 15*time.Second {
			lastLog = time.Now()
			t.Logf("%v: %d requests open, %d RemoveNode calls, %d accepted", time.Since(start).Round(time.Second), n,
				fake.Calls(ccetest.OpRemoveNodes), len(fake.Removals()))
		}
		return err == nil && n == 0
	})
	settled = true
	t.Logf("%v: every request final", time.Since(start).Round(time.Millisecond))
	for i, w := range workers {
		if w.Exited() {
			t.Errorf("worker %d exited by itself:\n%s", i, w.Stderr())
		}
	}

	counts := map[string]int{}
	states := map[string]removal.State{}
	missingGone := 0
	for i, r := range reqs {
		st, err := enq.Status(ctx, r.ID)
		if err != nil {
			t.Fatalf("%s: %v", r.ID, err)
		}
		uid := r.Nodes[0]
		if len(st.Nodes) != 1 || st.Nodes[0].UID != uid {
			t.Fatalf("%s: nodes %+v, want only %s", r.ID, st.Nodes, uid)
		}
		node := st.Nodes[0]
		phase, _, exists := fake.Node(project, r.ClusterID, uid)
		switch want[i] {
		case nodeRemovable:
			if st.State != removal.StateSucceeded || node.State != removal.NodeRemoved || exists {
				t.Errorf("%s: %s, node %s (%s), in CCE %v; want succeeded and the node gone", r.ID, st.State, node.State, node.Reason, exists)
			}
		case nodeFails:
			if st.State != removal.StateFailed || node.State != removal.NodeFailed || !exists || phase != "Error" {
				t.Errorf("%s: %s, node %s (%s), in CCE %v %s; want failed and the node in Error", r.ID, st.State, node.State, node.Reason, exists, phase)
			}
		case nodeMissing:
			// Refused outright, CCE's 404 fails the node. After a call that
			// may have gone out (5xx, cut connection), a node CCE does not
			// know is indistinguishable from one that call removed, and is
			// reported as the end state asked for.
			refused := st.State == removal.StateFailed && node.State == removal.NodeFailed && strings.Contains(node.Reason, "CCE.01404")
			gone := st.State == removal.StateSucceeded && node.State == removal.NodeRemoved && node.Reason == "not in the cluster any more"
			if !refused && !gone {
				t.Errorf("%s: %s, node %s (%s); want failed with CCE's not-found code, or removed: not in the cluster any more", r.ID, st.State, node.State, node.Reason)
			}
			if gone {
				missingGone++
			}
		case nodeHeldBack:
			if st.State != removal.StateFailed || node.State != removal.NodeFailed || !strings.Contains(node.Reason, "timed out") || !exists {
				t.Errorf("%s: %s, node %s (%s), in CCE %v; want failed, the drain timed out, and the node left in CCE", r.ID, st.State, node.State, node.Reason, exists)
			}
		}
		if r.Drain != nil && st.Drain == nil {
			t.Errorf("%s: asked for a drain and its status shows none", r.ID)
		}
		states[r.ID] = st.State
		counts[string(st.State)]++
	}
	t.Logf("%d of %d missing nodes were found gone after an uncertain call", missingGone, chaosRequests/10)
	t.Logf("outcomes %v; %d RemoveNode calls, %d accepted, %d 429s, %d 5xx", counts,
		fake.Calls(ccetest.OpRemoveNodes), len(fake.Removals()), fake.Answers(ccetest.OpAny, 429),
		fake.Answers(ccetest.OpAny, 500)+fake.Answers(ccetest.OpAny, 502)+fake.Answers(ccetest.OpAny, 503))
	if d := fake.DoubleRemovals(); len(d) > 0 {
		t.Errorf("nodes in two accepted removals: %v", d)
	}
	if early := fake.removedEarly(); len(early) > 0 {
		t.Errorf("CCE was asked to remove drained nodes with their Pods: %v", early)
	}
	for _, n := range drained {
		podMoved(t, fake.cp, pods[n.Name], spare.Name)
	}
	var cordoned []string
	testkit.WaitFor(t, time.Minute, "no Node cordoned by a failed request", func() bool {
		nodes, err := fake.kc.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		cordoned = nil
		for _, n := range nodes.Items {
			if id := n.Annotations[drain.CordonedBy]; id != "" && states[id] == removal.StateFailed {
				cordoned = append(cordoned, n.Name+" by "+id)
			}
		}
		return len(cordoned) == 0
	})
	t.Logf("%d ClusterCert calls, %d answered 503, %d 429", fake.Calls(ccetest.OpClusterCert),
		fake.Answers(ccetest.OpClusterCert, 503), fake.Answers(ccetest.OpClusterCert, 429))
	for _, p := range all {
		if out := p.Stderr(); strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic") {
			t.Errorf("a worker raced or panicked:\n%s", out)
		}
	}
	n := 0
	enqueueErrors.Range(func(_, _ any) bool { n++; return true })
	t.Logf("%d requests needed another try to enqueue (Redis was down)", n)
}

// dumpOpen logs the requests that are not final and the queue's counts, for
// a run that did not settle.
func dumpOpen(tb testing.TB, rdb *redis.Client, records *store.Store, workers []*proctest.Proc) {
	tb.Helper()
	ctx := context.Background() // not tb.Context(): it runs in a Cleanup, after the test's context ends
	stuck := map[string]bool{}
	for _, st := range []removal.State{removal.StateDraining, removal.StateQueued, removal.StateSubmitting, removal.StatePolling} {
		recs, err := records.List(ctx, removal.ListFilter{State: st, Limit: removal.MaxListLimit})
		if err != nil {
			tb.Logf("list %s: %v", st, err)
			continue
		}
		for _, r := range recs {
			stuck[r.BatchID] = stuck[r.BatchID] || r.BatchID != ""
			tb.Logf("open: %s %s cluster %s batch %s job %s attempts %d updated %s", r.RequestID, r.State, r.ClusterID,
				r.BatchID, r.JobID, r.Attempts, r.UpdatedAt.Format(time.TimeOnly))
		}
	}
	leases, _ := rdb.Keys(ctx, "{noderemover}:lease:*").Result()
	for _, k := range leases {
		tb.Logf("lease %s = %s, ttl %v", k, rdb.Get(ctx, k).Val(), rdb.PTTL(ctx, k).Val())
	}
	for i, w := range workers {
		for _, line := range strings.Split(w.Stderr(), "\n") {
			for b := range stuck {
				if strings.Contains(line, b) {
					tb.Logf("worker %d: %s", i, line)
					break
				}
			}
		}
	}
	in := asynq.NewInspectorFromRedisClient(rdb)
	if q, err := in.GetQueueInfo(tasks.Queue); err == nil {
		tb.Logf("queue: pending %d active %d scheduled %d retry %d archived %d completed %d",
			q.Pending, q.Active, q.Scheduled, q.Retry, q.Archived, q.Completed)
	}
	if active, err := in.ListActiveTasks(tasks.Queue); err == nil {
		for _, a := range active {
			tb.Logf("active %s: orphaned %v, retried %d, last error %q", a.ID, a.IsOrphaned, a.Retried, a.LastErr)
		}
	}
	if servers, err := in.Servers(); err == nil {
		for _, s := range servers {
			tb.Logf("server %s pid %d started %s: %d active", s.ID, s.PID, s.Started.Format(time.TimeOnly), len(s.ActiveWorkers))
		}
	}
	if archived, err := in.ListArchivedTasks(tasks.Queue); err == nil {
		for _, a := range archived {
			tb.Logf("archived %s: %s", a.ID, a.LastErr)
		}
	}
}
