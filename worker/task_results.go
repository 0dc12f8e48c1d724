package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// What a task leaves behind for asynqmon. A request's node:remove task is
// kept after it completes (tasks.Retention) with where the request stood
// then: final, or handed to a CCE job whose polls carry it. A job's last
// poll is kept with each request's end; when the job failed a node, that
// poll is archived, naming the requests and nodes that failed, so that the
// failure is where operators look for failures. The dashboard shows results
// through its redacting formatter; no login material is in them anyway.

// requestOutcome is one request's entry in a task's result.
type requestOutcome struct {
	RequestID string        `json:"request_id"`
	State     removal.State `json:"state"`
	JobID     string        `json:"job_id,omitempty"`
	Failed    []failedNode  `json:"failed_nodes,omitempty"`
	Error     string        `json:"error,omitempty"`
	Note      string        `json:"note,omitempty"`
}

type failedNode struct {
	UID    string `json:"uid"`
	Reason string `json:"reason"`
}

func outcomeOf(r *removal.Record) requestOutcome {
	o := requestOutcome{RequestID: r.RequestID, State: r.State, JobID: r.JobID}
	if r.State == removal.StateFailed {
		o.Error = r.Error
	}
	for _, n := range r.Nodes {
		if n.State == removal.NodeFailed {
			o.Failed = append(o.Failed, failedNode{UID: n.UID, Reason: n.Reason})
		}
	}
	if r.State == removal.StatePolling {
		o.Note = fmt.Sprintf("CCE runs the removal as job %s; its polls carry the request now, and the job's last poll task (%s, id poll:%s:N) is kept with its end",
			r.JobID, tasks.TypePollJob, r.BatchID)
	}
	return o
}

// writeResult sets t's result, for asynqmon; best effort (a unit test's task
// has no writer).
func (w *Server) writeResult(t *asynq.Task, v any) {
	rw := t.ResultWriter()
	if rw == nil {
		return
	}
	raw, err := json.Marshal(v)
	if err == nil {
		_, err = rw.Write(raw)
	}
	if err != nil {
		w.log.Debug().Err(err).Str("task", t.Type()).Msg("write the task's result")
	}
}

// requestResult writes where request id stands as its task's result.
func (w *Server) requestResult(ctx context.Context, t *asynq.Task, id string) {
	rec, err := w.records.Get(ctx, id)
	if err != nil {
		return
	}
	w.writeResult(t, outcomeOf(rec))
}

// jobResult writes the end of each request of a job's batch as the last
// poll's result, and says, for the archive, which requests failed and why
// ("" when none did).
func (w *Server) jobResult(t *asynq.Task, b *removal.Batch, changes []removal.Change) string {
	res := struct {
		RequestIDs []string         `json:"request_ids"`
		JobID      string           `json:"job_id"`
		BatchID    string           `json:"batch_id"`
		Requests   []requestOutcome `json:"requests"`
	}{JobID: b.JobID, BatchID: b.ID}
	var failed []string
	for _, c := range changes {
		o := outcomeOf(c.Record)
		res.RequestIDs = append(res.RequestIDs, o.RequestID)
		res.Requests = append(res.Requests, o)
		if o.State != removal.StateFailed {
			continue
		}
		nodes := make([]string, len(o.Failed))
		for i, n := range o.Failed {
			nodes[i] = "node " + n.UID + ": " + n.Reason
		}
		failed = append(failed, fmt.Sprintf("request %s failed (%s)", o.RequestID, strings.Join(nodes, "; ")))
	}
	w.writeResult(t, res)
	return strings.Join(failed, "; ")
}

// dropPoll takes poll n of a batch away once it completed: only a job's
// last poll is kept. Best effort: a poll still there goes at its retention.
func (w *Server) dropPoll(batchID string, n int) {
	if n < 0 {
		return
	}
	id := tasks.PollTaskID(batchID, n)
	info, err := w.inspector.GetTaskInfo(tasks.Queue, id)
	if err == nil && info.State == asynq.TaskStateCompleted {
		_ = w.inspector.DeleteTask(tasks.Queue, id)
	}
}
