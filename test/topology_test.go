package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/health"
	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redisconn"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// TestTopologies runs the same removals against every Redis topology
// REDIS_URL names: a single server, a three-master Redis Cluster and a
// master behind a Sentinel. Two worker processes share the Redis; the test
// enqueues through the enqueuer (on a client made from the same REDIS_URL)
// and through the CLI.
func TestTopologies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes against three Redis topologies")
	}
	for _, tc := range []struct {
		name  string
		start func(testing.TB) string // the REDIS_URL
	}{
		{"Single", func(tb testing.TB) string {
			srv := redistest.Start(tb, redistest.Options{})
			if srv.Kind != redistest.KindServer {
				tb.Skip("needs redis-server")
			}
			return srv.URL
		}},
		{"Cluster", func(tb testing.TB) string {
			c := redistest.StartCluster(tb)
			// asynq's keys and ours on different masters: a command sent to
			// the wrong node fails instead of passing by luck.
			c.MoveSlotOf(tb, "{noderemover}", 0)
			c.MoveSlotOf(tb, "asynq:{"+tasks.Queue+"}", 1)
			return c.URL
		}},
		{"Sentinel", func(tb testing.TB) string { return redistest.StartSentinel(tb).URL }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.start(t)
			checkEventsAtEnd(t, url)
			runTopology(t, url)
		})
	}
}

// topoNode names node i of the topology test.
func topoNode(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", 900+i) }

func runTopology(t *testing.T, redisURL string) {
	const jobDuration = 300 * time.Millisecond
	fake := ccetest.NewServer(ccetest.Options{Token: token, JobDuration: jobDuration})
	t.Cleanup(fake.Close)
	// topo-a: three single-node requests that go in one call; topo-b: a
	// request with a node CCE does not have; topo-c: one request cancelled,
	// one enqueued with the CLI; topo-d: a call whose answer is lost.
	fake.AddNodes(project, "topo-a", topoNode(1), topoNode(2), topoNode(3))
	fake.AddNodes(project, "topo-b", topoNode(4))
	fake.AddNodes(project, "topo-c", topoNode(6), topoNode(7))
	fake.AddNodes(project, "topo-d", topoNode(8))
	missing := topoNode(5)

	env := []string{
		"REDIS_URL=" + redisURL, "CCE_ENDPOINT=" + fake.URL, "CCE_AUTH_TOKEN=" + token,
		"CLUSTER_MAX_DISRUPTING=100%", "CLUSTER_MIN_NODES=0", "BATCH_WINDOW=1s", "WORKER_CONCURRENCY=10", "CCE_WRITE_RATE=20/s", "CCE_READ_RATE=50/s",
		"POLL_INTERVAL_MIN=200ms", "POLL_INTERVAL_MAX=500ms", "POLL_FIRST_DELAY=" + jobDuration.String(),
		"RETRY_BACKOFF_MIN=200ms", "RETRY_BACKOFF_MAX=1s", "LOG_LEVEL=warn",
	}
	bin := proctest.Binary(t, true)
	var workers []*proctest.Proc
	var httpAddrs []string
	for range 2 {
		addr := proctest.FreeAddr(t)
		workers = append(workers, proctest.Start(t, bin, append(env, "HTTP_ADDR="+addr), "worker"))
		httpAddrs = append(httpAddrs, addr)
	}
	dashAddr := proctest.FreeAddr(t)
	dashboard := proctest.Start(t, bin, append(env, "DASHBOARD_ADDR="+dashAddr), "dashboard")
	for _, addr := range httpAddrs {
		// Ready: the asynq server runs and Redis answers through REDIS_URL.
		testkit.WaitFor(t, 30*time.Second, "worker ready", func() bool {
			code, _ := httpGet(t, "http://"+addr+health.ReadyPath)
			return code == http.StatusOK
		})
	}

	target, err := config.ParseRedisURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redisconn.New(target)
	t.Cleanup(func() { _ = rdb.Close() })
	enq := enqueuer.New(rdb, enqueuer.Options{})
	t.Cleanup(func() { _ = enq.Close() })
	ctx := t.Context()

	req := func(id, cluster string, nodes ...string) enqueuer.Request {
		return enqueuer.Request{ID: id, ProjectID: project, ClusterID: cluster, Nodes: nodes, SSHKey: "topology-key"}
	}
	if _, err := enq.EnqueueAll(ctx, []enqueuer.Request{
		req("a-1", "topo-a", topoNode(1)), req("a-2", "topo-a", topoNode(2)), req("a-3", "topo-a", topoNode(3)),
		req("b-1", "topo-b", topoNode(4), missing),
		req("c-1", "topo-c", topoNode(6)),
	}); err != nil {
		t.Fatal(err)
	}
	// The batch window (1s) keeps c-1 queued: it is still cancellable.
	if st, err := enq.Cancel(ctx, "c-1"); err != nil || st.State != removal.StateCancelled {
		t.Fatalf("cancel c-1: %+v, %v", st, err)
	}
	if _, err := enq.Enqueue(ctx, req("busy", "topo-a", topoNode(1))); !errors.Is(err, enqueuer.ErrNodeBusy) {
		t.Fatalf("node of a-1 enqueued again: %v, want ErrNodeBusy", err)
	}
	if out, code := proctest.Run(t, bin, env, "", "enqueue", "--project-id", project, "--cluster-id", "topo-c",
		"--node", topoNode(7), "--ssh-key", "topology-key", "--request-id", "cli-1"); code != 0 {
		t.Fatalf("enqueue exit %d: %s", code, out)
	}
	want := map[string]removal.State{
		"a-1": removal.StateSucceeded, "a-2": removal.StateSucceeded, "a-3": removal.StateSucceeded,
		"b-1": removal.StateFailed, "c-1": removal.StateCancelled, "cli-1": removal.StateSucceeded,
	}
	got := waitFinal(t, enq, want)

	// CCE takes the next call but its answer is lost: the worker must find
	// the job through the node (ShowNode) and not send the node again.
	fake.Inject(ccetest.OpRemoveNodes, 1, ccetest.Fault{LoseAnswer: true})
	if _, err := enq.Enqueue(ctx, req("d-1", "topo-d", topoNode(8))); err != nil {
		t.Fatal(err)
	}
	want["d-1"] = removal.StateSucceeded
	maps.Copy(got, waitFinal(t, enq, map[string]removal.State{"d-1": removal.StateSucceeded}))
	if fake.Calls(ccetest.OpShowNode) == 0 {
		t.Errorf("d-1 succeeded without a ShowNode: was its lost call reconciled?")
	}

	b := got["b-1"]
	for _, n := range b.Nodes {
		switch {
		case n.UID == missing && (n.State != removal.NodeFailed || !strings.Contains(n.Reason, "CCE.01404001")):
			t.Errorf("b-1: missing node %s is %s (%q), want failed with CCE's code", n.UID, n.State, n.Reason)
		case n.UID != missing && n.State != removal.NodeRemoved:
			t.Errorf("b-1: node %s is %s (%q), want removed", n.UID, n.State, n.Reason)
		}
	}
	for _, id := range []string{"a-1", "a-2", "a-3", "cli-1", "d-1"} {
		if st := got[id]; st.JobID == "" || len(st.Nodes) != 1 || st.Nodes[0].State != removal.NodeRemoved {
			t.Errorf("%s: %+v, want its node removed by a job", id, st)
		}
	}
	merged := false
	for _, rm := range fake.Removals() {
		merged = merged || (rm.ClusterID == "topo-a" && len(rm.Nodes) > 1)
		if slices.Contains(rm.Nodes, topoNode(6)) {
			t.Errorf("the node of cancelled c-1 was sent to CCE")
		}
	}
	if !merged {
		t.Errorf("topo-a's requests went in separate calls: %+v", fake.Removals())
	}
	if d := fake.DoubleRemovals(); len(d) > 0 {
		t.Errorf("nodes in two removals: %v", d)
	}

	all, err := enq.List(ctx, enqueuer.ListFilter{})
	if err != nil || len(all) != len(want) {
		t.Errorf("list: %d requests, %v; want %d", len(all), err, len(want))
	}
	failed, err := enq.List(ctx, enqueuer.ListFilter{State: removal.StateFailed})
	if err != nil || len(failed) != 1 || failed[0].RequestID != "b-1" {
		t.Errorf("list failed: %+v, %v; want b-1", failed, err)
	}
	out, code := proctest.Run(t, bin, env, "", "status", "cli-1")
	var st removal.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.State != removal.StateSucceeded {
		t.Errorf("noderemover status cli-1: exit %d: %s", code, out)
	}
	// asynq's queue metrics read Redis through the worker's Inspector.
	code, body := httpGet(t, "http://"+httpAddrs[0]+health.MetricsPath)
	if code != http.StatusOK || !strings.Contains(body, `asynq_queue_size{queue="removals"}`) ||
		!strings.Contains(body, "noderemover_requests_in_flight 0") {
		t.Errorf("GET /metrics: %d\n%s", code, body)
	}

	// The dashboard reads the queue, the tasks and the workers through
	// REDIS_URL as well.
	checkDashboard(t, "http://"+dashAddr, len(workers))

	// Workers and dashboard stop cleanly, and no Redis error reached their logs.
	workers = append(workers, dashboard)
	for _, w := range workers {
		if err := w.Signal(proctest.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range workers {
		if err := w.Wait(t, 30*time.Second); err != nil {
			t.Errorf("%s exit: %v", w.Args[0], err)
		}
		for _, bad := range []string{"CROSSSLOT", "MOVED", "ASK ", "READONLY", "NOSCRIPT", `"level":"error"`} {
			if strings.Contains(w.Stderr(), bad) {
				t.Errorf("%s log has %s:\n%s", w.Args[0], bad, w.Stderr())
				break
			}
		}
	}
}

// waitFinal waits until every request of want is final and checks its
// state; it returns their statuses.
func waitFinal(tb testing.TB, enq *enqueuer.Client, want map[string]removal.State) map[string]removal.Status {
	tb.Helper()
	got := map[string]removal.Status{}
	testkit.WaitFor(tb, 30*time.Second, "every request final", func() bool {
		for id := range want {
			st, err := enq.Status(tb.Context(), id)
			if err != nil {
				tb.Fatalf("status %s: %v", id, err)
			}
			if !st.State.Final() {
				return false
			}
			got[id] = st
		}
		return true
	})
	for id, state := range want {
		if got[id].State != state {
			tb.Errorf("%s is %s, want %s: %+v", id, got[id].State, state, got[id])
		}
	}
	return got
}

// httpGet returns the status and body of a GET, or 0 when it failed.
func httpGet(tb testing.TB, url string) (int, string) {
	tb.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// checkDashboard reads asynqmon's API: the removals queue with what the
// workers processed, its completed and archived tasks, and the workers.
func checkDashboard(tb testing.TB, base string, workers int) {
	tb.Helper()
	var queues struct {
		Queues []struct {
			Queue     string `json:"queue"`
			Processed int    `json:"processed"`
		} `json:"queues"`
	}
	testkit.WaitFor(tb, 30*time.Second, "dashboard answers", func() bool {
		code, body := httpGet(tb, base+"/api/queues")
		return code == http.StatusOK && json.Unmarshal([]byte(body), &queues) == nil
	})
	if len(queues.Queues) != 1 || queues.Queues[0].Queue != tasks.Queue || queues.Queues[0].Processed == 0 {
		tb.Errorf("dashboard /api/queues: %+v, want %s with tasks processed", queues, tasks.Queue)
	}
	var servers struct {
		Servers []json.RawMessage `json:"servers"`
	}
	code, body := httpGet(tb, base+"/api/servers")
	if code != http.StatusOK || json.Unmarshal([]byte(body), &servers) != nil || len(servers.Servers) != workers {
		tb.Errorf("dashboard /api/servers: %d, %d servers, want %d:\n%s", code, len(servers.Servers), workers, body)
	}
	for _, path := range []string{"/", "/api/queue_stats", "/api/queues/" + tasks.Queue + "/completed_tasks",
		"/api/queues/" + tasks.Queue + "/scheduled_tasks", "/api/queues/" + tasks.Queue + "/archived_tasks"} {
		if code, body := httpGet(tb, base+path); code != http.StatusOK {
			tb.Errorf("dashboard %s: %d %s", path, code, body)
		}
	}
}
