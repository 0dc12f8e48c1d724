package worker_test

import (
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
	"github.com/noderemover/noderemover/worker"
)

// TestNoRetryEntryOnceInABatch: requests that waited for their cluster and
// were taken into a batch by another request's task do not leave their own
// task in asynq's retry list, showing a wait ("cluster busy") as its last
// error, while CCE already runs their removal: once the batch is accepted
// their tasks are woken, find the job's polls carrying them, and complete.
func TestNoRetryEntryOnceInABatch(t *testing.T) {
	h := newHarness(t, window(300*time.Millisecond), func(_ *worker.Config, o *ccetest.Options) { o.JobDuration = 4 * time.Second })
	h.dumpLogsOnFailure()
	h.start()
	insp := h.inspector()
	h.enqueue(enqueuer.Request{ID: "holder", ClusterID: "c1", Nodes: uids(92, 1)})
	testkit.WaitFor(t, finalWithin, "holder's job running", func() bool {
		st, _ := h.enq.Status(t.Context(), "holder")
		return st.State == removal.StatePolling
	})
	waiters := h.enqueueMany("waiter", "c1", 2, 93) // one waits for the other's job, then takes it along
	testkit.WaitFor(t, finalWithin, "both waiters in the next job", func() bool {
		for _, id := range waiters {
			if st, _ := h.enq.Status(t.Context(), id); st.State != removal.StatePolling && !st.State.Final() {
				return false
			}
		}
		return true
	})
	testkit.WaitFor(t, 3*time.Second, "no node:remove task in retry for a request in a batch", func() bool {
		retry, err := insp.ListRetryTasks(tasks.Queue)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range retry {
			if info.Type != tasks.TypeRemoveNodes {
				continue
			}
			p, _ := tasks.DecodeRemoveNodes(info.Payload)
			if st, _ := h.enq.Status(t.Context(), p.RequestID); st.State == removal.StatePolling {
				t.Logf("%s in retry while its request polls, last error %q", info.ID, info.LastErr)
				return false
			}
		}
		return true
	})
}
