package worker_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/store/storetest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
	"github.com/noderemover/noderemover/worker"
)

const finalWithin = 30 * time.Second

func TestRemovesNodes(t *testing.T) {
	h := newHarness(t)
	h.start()
	a := h.enqueue(enqueuer.Request{ID: "req-a", ClusterID: "cluster-a", Nodes: uids(1, 3)})
	b := h.enqueue(enqueuer.Request{ID: "req-b", ClusterID: "cluster-b", Nodes: uids(2, 2), Password: "S3cret-Pass!"})

	for _, id := range []string{a.RequestID, b.RequestID} {
		st := h.waitFinal(id, finalWithin)
		if st.State != removal.StateSucceeded {
			t.Fatalf("%s: state %s, error %q", id, st.State, st.Error)
		}
		if st.JobID == "" || st.Attempts != 1 {
			t.Errorf("%s: job %q attempts %d, want a job and 1 attempt", id, st.JobID, st.Attempts)
		}
		for _, n := range st.Nodes {
			if n.State != removal.NodeRemoved {
				t.Errorf("%s: node %s is %s", id, n.UID, n.State)
			}
			if _, _, exists := h.fake.Node(project, st.ClusterID, n.UID); exists {
				t.Errorf("node %s still in the fake cluster", n.UID)
			}
		}
	}
	if got := len(h.fake.Removals()); got != 2 {
		t.Errorf("CCE accepted %d removals, want 2", got)
	}
	if d := h.fake.DoubleRemovals(); len(d) > 0 {
		t.Errorf("nodes removed twice: %v", d)
	}
	// The state change is logged after its record is written, so the last
	// line may come a moment after the status says final.
	testkit.WaitFor(t, 5*time.Second, "req-a's final state logged", func() bool {
		states := stateEvents(h.logs.String(), "req-a")
		return len(states) > 0 && states[len(states)-1] == "succeeded"
	})
	logs := h.logs.String()
	for _, secret := range []string{token, "S3cret-Pass!"} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret is in the logs")
		}
	}
	assertStateEvents(t, logs, "req-a")
}

// assertStateEvents checks that each state change of a request was one log
// event carrying request, cluster, job and attempt.
func assertStateEvents(tb testing.TB, logs, requestID string) {
	tb.Helper()
	for _, ev := range logEvents(logs, requestID) {
		for _, k := range []string{"cluster_id", "job_id", "attempt", "state", "from"} {
			if _, ok := ev[k]; !ok {
				tb.Errorf("state event without %s: %v", k, ev)
			}
		}
	}
	states := stateEvents(logs, requestID)
	want := []string{"submitting", "polling", "succeeded"}
	if strings.Join(states, ",") != strings.Join(want, ",") {
		tb.Errorf("state events %v, want %v", states, want)
	}
}

// logEvents returns the JSON log lines about requestID, in order.
func logEvents(logs, requestID string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["request_id"] == requestID {
			out = append(out, ev)
		}
	}
	return out
}

// stateEvents returns the states logged for requestID, in order.
func stateEvents(logs, requestID string) []string {
	var states []string
	for _, ev := range logEvents(logs, requestID) {
		state, _ := ev["state"].(string)
		states = append(states, state)
	}
	return states
}

func TestServerErrorsAreRetried(t *testing.T) {
	h := newHarness(t)
	h.fake.Inject(ccetest.OpRemoveNodes, 2, ccetest.Fault{Status: 500})
	h.start()
	h.enqueue(enqueuer.Request{ID: "retried", ClusterID: "c1", Nodes: uids(3, 2)})
	st := h.waitFinal("retried", finalWithin)
	if st.State != removal.StateSucceeded || st.Attempts != 3 {
		t.Fatalf("state %s attempts %d error %q; want succeeded after 3 attempts", st.State, st.Attempts, st.Error)
	}
	if d := h.fake.DoubleRemovals(); len(d) > 0 {
		t.Errorf("nodes removed twice: %v", d)
	}
}

func TestThrottledAnswerUsesNoAttempt(t *testing.T) {
	h := newHarness(t)
	h.fake.Inject(ccetest.OpRemoveNodes, 2, ccetest.Fault{Status: 429, RetryAfter: "0.2"})
	h.fake.Inject(ccetest.OpRemoveNodes, 1, ccetest.Fault{Status: 429, Code: "APIG.0308", Gateway: true})
	h.start()
	h.enqueue(enqueuer.Request{ID: "throttled", ClusterID: "c1", Nodes: uids(4, 1)})
	st := h.waitFinal("throttled", finalWithin)
	if st.State != removal.StateSucceeded || st.Attempts != 1 {
		t.Fatalf("state %s attempts %d; want succeeded with 1 attempt", st.State, st.Attempts)
	}
	if got := h.fake.Answers(ccetest.OpRemoveNodes, 429); got != 3 {
		t.Errorf("fake answered 429 %d times, want 3", got)
	}
}

func TestLostAnswerAdoptsTheJob(t *testing.T) {
	h := newHarness(t)
	h.fake.Inject(ccetest.OpRemoveNodes, 1, ccetest.Fault{LoseAnswer: true})
	h.start()
	h.enqueue(enqueuer.Request{ID: "lost", ClusterID: "c1", Nodes: uids(5, 3)})
	st := h.waitFinal("lost", finalWithin)
	if st.State != removal.StateSucceeded {
		t.Fatalf("state %s error %q", st.State, st.Error)
	}
	removals := h.fake.Removals()
	if len(removals) != 1 || removals[0].JobID != st.JobID {
		t.Fatalf("removals %+v, want one with job %s", removals, st.JobID)
	}
	if !strings.Contains(h.logs.String(), "adopted job "+st.JobID) {
		t.Errorf("no log of the adopted job")
	}
}

func TestSlowAnswerIsReconciled(t *testing.T) {
	h := newHarness(t)
	h.fake.Inject(ccetest.OpRemoveNodes, 1, ccetest.Fault{Delay: 3 * h.cfg.CCETimeout})
	h.start()
	h.enqueue(enqueuer.Request{ID: "slow", ClusterID: "c1", Nodes: uids(6, 2)})
	st := h.waitFinal("slow", finalWithin)
	if st.State != removal.StateSucceeded {
		t.Fatalf("state %s error %q", st.State, st.Error)
	}
	if d := h.fake.DoubleRemovals(); len(d) > 0 {
		t.Errorf("nodes removed twice: %v", d)
	}
	if got := len(h.fake.Removals()); got != 1 {
		t.Errorf("%d removals accepted, want 1", got)
	}
}

func TestMissingNodeFailsWithCCEsCode(t *testing.T) {
	h := newHarness(t)
	h.start()
	missing := uids(7, 1)[0]
	st, err := h.enq.Enqueue(t.Context(), enqueuer.Request{ID: "missing", ProjectID: project, ClusterID: "c1",
		SSHKey: "k", Nodes: []string{missing}})
	if err != nil {
		t.Fatal(err)
	}
	h.fake.AddNodes(project, "c1", uids(7, 2)[1]) // the cluster exists, the node does not
	st = h.waitFinal(st.RequestID, finalWithin)
	if st.State != removal.StateFailed || !strings.Contains(st.Error, "CCE.01404001") || !strings.Contains(st.Error, missing) {
		t.Fatalf("state %s error %q; want failed with CCE.01404001 naming the node", st.State, st.Error)
	}
	if st.Nodes[0].State != removal.NodeFailed || st.Nodes[0].Reason == "" {
		t.Errorf("node %+v, want failed with a reason", st.Nodes[0])
	}
	testkit.WaitFor(t, finalWithin, "task archived", func() bool {
		tasks, _ := h.inspector().ListArchivedTasks(tasks.Queue)
		return len(tasks) == 1 && strings.Contains(tasks[0].LastErr, "CCE.01404001")
	})
}

func TestFailedRemovalIsPerNode(t *testing.T) {
	h := newHarness(t)
	nodes := uids(8, 3)
	h.fake.FailRemoval(nodes[1])
	h.start()
	h.enqueue(enqueuer.Request{ID: "partial", ClusterID: "c1", Nodes: nodes})
	st := h.waitFinal("partial", finalWithin)
	if st.State != removal.StateFailed || !strings.HasPrefix(st.Error, "1 of 3 nodes not removed") {
		t.Fatalf("state %s error %q", st.State, st.Error)
	}
	for i, n := range st.Nodes {
		want := removal.NodeRemoved
		if i == 1 {
			want = removal.NodeFailed
		}
		if n.State != want {
			t.Errorf("node %d: %s, want %s", i, n.State, want)
		}
	}
	if st.Nodes[1].Reason == "" {
		t.Error("failed node has no reason")
	}
}

// TestPollTimeoutFailsTheRequest steps the worker's clock past
// POLL_TIMEOUT while CCE's job runs on: the next poll fails the request
// with a reason naming it; polls before that only poll.
func TestPollTimeoutFailsTheRequest(t *testing.T) {
	clock := testkit.NewOffsetClock(0)
	h := newHarness(t, func(c *worker.Config, o *ccetest.Options) {
		c.PollTimeout = time.Hour
		c.Now = clock.Now
		o.JobDuration = 24 * time.Hour
	})
	h.start()
	h.enqueue(enqueuer.Request{ID: "forever", ClusterID: "c1", Nodes: uids(9, 1)})
	testkit.WaitFor(t, finalWithin, "a few polls of the job", func() bool { return h.fake.Calls(ccetest.OpShowJob) >= 3 })
	if st, _ := h.enq.Status(t.Context(), "forever"); st.State != removal.StatePolling {
		t.Fatalf("before POLL_TIMEOUT: %s %q", st.State, st.Error)
	}
	clock.Advance(time.Hour + time.Minute)
	st := h.waitFinal("forever", finalWithin)
	if st.State != removal.StateFailed || !strings.Contains(st.Error, "POLL_TIMEOUT") {
		t.Fatalf("state %s error %q; want failed naming POLL_TIMEOUT", st.State, st.Error)
	}
}

func TestTransientPollErrorsAreTolerated(t *testing.T) {
	h := newHarness(t)
	h.fake.Inject(ccetest.OpShowJob, 3, ccetest.Fault{Status: 503, NonJSON: true})
	h.start()
	h.enqueue(enqueuer.Request{ID: "bumpy", ClusterID: "c1", Nodes: uids(10, 1)})
	if st := h.waitFinal("bumpy", finalWithin); st.State != removal.StateSucceeded {
		t.Fatalf("state %s error %q", st.State, st.Error)
	}
	if got := h.fake.Answers(ccetest.OpShowJob, 503); got != 3 {
		t.Errorf("%d polls answered 503, want 3", got)
	}
}

func TestAttemptsAreBounded(t *testing.T) {
	h := newHarness(t, func(c *worker.Config, _ *ccetest.Options) { c.SubmitMaxAttempts = 2 })
	h.fake.Inject(ccetest.OpRemoveNodes, 10, ccetest.Fault{Status: 403, Code: "CCE.01403004", Message: "cluster is upgrading"})
	h.start()
	h.enqueue(enqueuer.Request{ID: "doomed", ClusterID: "c1", Nodes: uids(11, 1)})
	st := h.waitFinal("doomed", finalWithin)
	if st.State != removal.StateFailed || st.Attempts != 2 || !strings.Contains(st.Error, "gave up after 2") {
		t.Fatalf("state %s attempts %d error %q", st.State, st.Attempts, st.Error)
	}
	if got := h.fake.Calls(ccetest.OpRemoveNodes); got != 2 {
		t.Errorf("%d RemoveNode calls, want 2", got)
	}
}

func TestUndecodablePayloadIsArchived(t *testing.T) {
	h := newHarness(t)
	h.start()
	q := asynq.NewClientFromRedisClient(h.rdb)
	defer q.Close()
	bad := []struct{ kind, payload string }{
		{tasks.TypeRemoveNodes, `{"request_id":`},
		{tasks.TypeRemoveNodes, `{"request_id":5,"nodes":"n1"}`},
		{tasks.TypeRemoveNodes, `{"project_id":"p","cluster_id":"c1"}`},
		{tasks.TypePollJob, `{"request_id":`},
		{tasks.TypePollJob, `{"batch_id":"b","project_id":"p"}`},
	}
	for _, b := range bad {
		if _, err := q.Enqueue(asynq.NewTask(b.kind, []byte(b.payload)), asynq.Queue(tasks.Queue), asynq.MaxRetry(5)); err != nil {
			t.Fatal(err)
		}
	}
	var archived []*asynq.TaskInfo
	testkit.WaitFor(t, finalWithin, "every bad task archived", func() bool {
		archived, _ = h.inspector().ListArchivedTasks(tasks.Queue)
		return len(archived) == len(bad)
	})
	// Archived at once, never retried, with a reason that names the kind
	// and says why.
	for _, a := range archived {
		if !strings.HasPrefix(a.LastErr, a.Type+": bad payload: ") || a.Retried != 0 {
			t.Errorf("%s %s: archived after %d retries with %q", a.Type, a.Payload, a.Retried, a.LastErr)
		}
	}
	h.enqueue(enqueuer.Request{ID: "after", ClusterID: "c1", Nodes: uids(12, 1)})
	if st := h.waitFinal("after", finalWithin); st.State != removal.StateSucceeded {
		t.Fatalf("worker stopped working: %s %q", st.State, st.Error)
	}
}

// TestReconcile starts a worker on a request whose earlier attempt recorded
// its intent and then vanished, with CCE in each state that attempt may
// have left behind.
func TestReconcile(t *testing.T) {
	cases := []struct {
		name      string
		accepted  bool // CCE accepted the earlier call
		failNode  bool // and the removal failed
		finished  bool // and its job is over
		wantState removal.State
		wantCalls int // RemoveNode calls in all
	}{
		{name: "NotSent", wantState: removal.StateSucceeded, wantCalls: 1},
		{name: "Deleting", accepted: true, wantState: removal.StateSucceeded, wantCalls: 1},
		{name: "Removed", accepted: true, finished: true, wantState: removal.StateSucceeded, wantCalls: 1},
		{name: "ErrorWithJob", accepted: true, failNode: true, finished: true, wantState: removal.StateFailed, wantCalls: 1},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(_ *worker.Config, o *ccetest.Options) {
				if !tc.finished {
					o.JobDuration = 2 * time.Second
				} else {
					o.JobDuration = 0
				}
			})
			nodes := uids(20+i, 2)
			h.enqueue(enqueuer.Request{ID: "crashed", ClusterID: "c1", Nodes: nodes})
			ctx := t.Context()
			storetest.Form(t, h.store, time.Now().Add(-time.Second), "crashed")
			if tc.failNode {
				h.fake.FailRemoval(nodes[0])
			}
			if tc.accepted {
				api, _ := cce.New(cce.Config{Endpoint: h.fake.URL, Auth: cce.TokenAuth{Token: token}})
				if _, err := api.RemoveNodes(ctx, project, "c1", cce.Login{SSHKey: "test-keypair"}, nodes); err != nil {
					t.Fatal(err)
				}
			}
			h.start()
			st := h.waitFinal("crashed", finalWithin)
			if st.State != tc.wantState {
				t.Fatalf("state %s error %q, want %s", st.State, st.Error, tc.wantState)
			}
			if got := h.fake.Calls(ccetest.OpRemoveNodes); got != tc.wantCalls {
				t.Errorf("%d RemoveNode calls, want %d", got, tc.wantCalls)
			}
			if d := h.fake.DoubleRemovals(); len(d) > 0 {
				t.Errorf("nodes removed twice: %v", d)
			}
		})
	}
}

// TestNodeInErrorIsRemovedForReal: a node that was already in Error when it
// was asked for still names its old create job in status.jobID, and CCE
// shows it as Deleting unless asked with errorStatus. When the first
// RemoveNode call gets a 500, reconciling must not take that create job for
// the removal: the node is sent again, CCE accepts it, and only then is it
// removed.
func TestNodeInErrorIsRemovedForReal(t *testing.T) {
	h := newHarness(t)
	h.dumpLogsOnFailure()
	node := uids(90, 1)[0]
	h.enqueue(enqueuer.Request{ID: "broken", ClusterID: "c1", Nodes: []string{node}})
	h.fake.SetNodePhase(project, "c1", node, cce.NodeError)
	h.fake.Inject(ccetest.OpRemoveNodes, 1, ccetest.Fault{Status: 500})
	h.start()
	st := h.waitFinal("broken", finalWithin)
	removals := h.fake.Removals()
	if st.State != removal.StateSucceeded || len(removals) != 1 || removals[0].JobID != st.JobID {
		t.Fatalf("request %s (job %q, error %q) with %d removals accepted by CCE (%+v); want succeeded through the one removal CCE accepted",
			st.State, st.JobID, st.Error, len(removals), removals)
	}
	if _, _, exists := h.fake.Node(project, "c1", node); exists {
		t.Error("the node is still in the cluster")
	}
}
