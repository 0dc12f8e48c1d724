package worker_test

import (
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// TestOutcomeIsInTheDashboard: what became of a request can be read in
// asynqmon: its node:remove task is kept after it completes (Completed tab)
// with a result saying where the request stood, and the last poll of its
// CCE job is kept with each request's end; when CCE's job failed a node,
// that poll is archived with the reason, so the failure is in the Archived
// tab too.
func TestOutcomeIsInTheDashboard(t *testing.T) {
	h := newHarness(t)
	h.dumpLogsOnFailure()
	good, bad := uids(94, 1), uids(95, 2)
	h.fake.FailRemoval(bad[1])
	h.start()
	insp := h.inspector()
	h.enqueue(enqueuer.Request{ID: "went-well", ClusterID: "c1", Nodes: good})
	h.enqueue(enqueuer.Request{ID: "went-badly", ClusterID: "c2", Nodes: bad})
	if st := h.waitFinal("went-well", finalWithin); st.State != removal.StateSucceeded {
		t.Fatalf("%+v", st)
	}
	if st := h.waitFinal("went-badly", finalWithin); st.State != removal.StateFailed {
		t.Fatalf("%+v", st)
	}
	find := func(list func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error), kind, request string) *asynq.TaskInfo {
		infos, err := list(tasks.Queue)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range infos {
			if i.Type == kind && strings.Contains(string(i.Payload), `"`+request+`"`) {
				return i
			}
		}
		return nil
	}
	for _, id := range []string{"went-well", "went-badly"} {
		testkit.WaitFor(t, finalWithin, id+"'s task completed with a result", func() bool {
			i := find(insp.ListCompletedTasks, tasks.TypeRemoveNodes, id)
			return i != nil && strings.Contains(string(i.Result), `"request_id":"`+id+`"`)
		})
	}
	var last *asynq.TaskInfo
	testkit.WaitFor(t, finalWithin, "the good job's last poll kept", func() bool {
		last = find(insp.ListCompletedTasks, tasks.TypePollJob, "went-well")
		return last != nil
	})
	if r := string(last.Result); !strings.Contains(r, `"went-well"`) || !strings.Contains(r, "succeeded") {
		t.Errorf("last poll's result %s, want the request succeeded", r)
	}
	if n, _ := insp.ListCompletedTasks(tasks.Queue); len(n) > 4 {
		t.Errorf("%d completed tasks kept; every poll but each job's last should go", len(n))
	}
	var failed *asynq.TaskInfo
	testkit.WaitFor(t, finalWithin, "the failed job's last poll archived", func() bool {
		failed = find(insp.ListArchivedTasks, tasks.TypePollJob, "went-badly")
		return failed != nil
	})
	if !strings.Contains(failed.LastErr, "went-badly") || !strings.Contains(failed.LastErr, bad[1]) || strings.Contains(failed.LastErr, bad[0]) {
		t.Errorf("archived poll says %q; want the request and the failed node (only)", failed.LastErr)
	}
	if r := string(failed.Result); !strings.Contains(r, `"state":"failed"`) || !strings.Contains(r, bad[1]) {
		t.Errorf("archived poll's result %s", r)
	}
}
