package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
	"github.com/noderemover/noderemover/worker"
)

// TestWakeUpLeavesArchivedTasks: the end of a job wakes the request that
// waits longest for its cluster, but never by taking a task out of the
// archive. An operator who archived it (asynqmon before it learnt to cancel,
// asynq's own CLI) stopped it; the wake-up must not undo that and have the
// node removed behind their back.
func TestWakeUpLeavesArchivedTasks(t *testing.T) {
	h := newHarness(t, window(0), func(_ *worker.Config, o *ccetest.Options) { o.JobDuration = time.Second })
	h.dumpLogsOnFailure()
	h.start()
	insp := h.inspector()
	h.enqueue(enqueuer.Request{ID: "holder", ClusterID: "c1", Nodes: uids(90, 1)})
	testkit.WaitFor(t, finalWithin, "holder's job running", func() bool {
		st, _ := h.enq.Status(t.Context(), "holder")
		return st.State == removal.StatePolling
	})
	h.enqueue(enqueuer.Request{ID: "archived-one", ClusterID: "c1", Nodes: uids(91, 1)})
	id := tasks.RemoveNodesTaskID("archived-one")
	testkit.WaitFor(t, finalWithin, "the second request waiting in retry", func() bool {
		info, err := insp.GetTaskInfo(tasks.Queue, id)
		return err == nil && info.State == asynq.TaskStateRetry
	})
	if err := insp.ArchiveTask(tasks.Queue, id); err != nil {
		t.Fatal(err)
	}
	h.waitFinal("holder", finalWithin)
	testkit.WaitFor(t, finalWithin, "the wake-up to pass the archived task by, or take it out", func() bool {
		info, err := insp.GetTaskInfo(tasks.Queue, id)
		return err != nil || info.State != asynq.TaskStateArchived || strings.Contains(h.logs.String(), "not waking request archived-one: its task is archived")
	})
	if info, err := insp.GetTaskInfo(tasks.Queue, id); err != nil || info.State != asynq.TaskStateArchived {
		t.Fatalf("the archived task was taken out of the archive: %+v %v", info, err)
	}
	if n := len(h.fake.Removals()); n != 1 {
		t.Errorf("%d removals accepted, want only the holder's", n)
	}
}
