package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/tasks"
)

// Requests is what the dashboard needs of the product to keep asynqmon
// honest; *enqueuer.Client has it.
type Requests interface {
	Status(ctx context.Context, id string) (enqueuer.Status, error)
	Cancel(ctx context.Context, id string) (enqueuer.Status, error)
}

// A task is only the carrier of a request: the record in Redis decides, and
// the worker gives a queued request whose task disappeared its task back.
// So asynqmon's delete and archive, left alone, say one thing (204, the
// task is gone) while the worker does another (the node is removed a minute
// later). The guard sits in front of every asynqmon call that deletes or
// archives tasks, one, a batch or all of a state, and decides task by task:
//
//	node:remove of an open request    the product's cancel (enqueuer.Client.Cancel): allowed while the
//	                                  request is queued, draining or in a ready batch, and its task is
//	                                  removed; refused (409, with the reason) once CCE accepted the call
//	node:remove, request final/gone   passed through: the task can do nothing any more
//	node:remove:poll                  refused while a request it follows is open (deleting it would leave
//	                                  them polling for ever); passed through once they are all final
//	node:uncordon                     refused (it gives back Nodes a cancelled request cordoned); run it
//	completed tasks, other kinds      passed through
//
// A batch or "all" operation is the same decision for each task it names
// (for "all", each task in that state when the call came): what is allowed is
// done, what is refused stays, and the answer has asynqmon's shape (so its UI
// counts what was done) plus "refused", each refused task id with why.
// "Run" (archived, scheduled, retry) is passed through: it only makes a task
// run now, and the task reads the record as every run does (a final
// request's task ends at once). Cancelling an active task is asynq's retry.
type guard struct {
	next      http.Handler
	inspector *asynq.Inspector
	requests  Requests
}

// guardedPath matches asynqmon's task-changing calls:
// /api/queues/{q}[/groups/{g}]/{state}_tasks[/{id}][:{op}].
var guardedPath = regexp.MustCompile(`^/api/queues/([^/]+)/(?:groups/([^/]+)/)?(pending|scheduled|retry|archived|completed|aggregating)_tasks(/.+|:[a-z_]+)$`)

// A verdict on one task.
type verdict int

const (
	pass   verdict = iota // do what was asked: it changes nothing the worker would do
	cancel                // the product's cancel of the task's request
	refuse                // leave the task, say why
)

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := guardedPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		g.next.ServeHTTP(w, r)
		return
	}
	q, group, state, rest := m[1], m[2], m[3], m[4]
	var id, op string
	switch {
	case strings.HasPrefix(rest, "/") && r.Method == http.MethodDelete:
		id, op = rest[1:], "delete"
	case strings.HasPrefix(rest, "/"):
		i := strings.LastIndex(rest, ":")
		if i < 1 {
			g.next.ServeHTTP(w, r)
			return
		}
		id, op = rest[1:i], rest[i+1:]
	default:
		op = rest[1:]
	}
	switch op {
	case "delete", "archive":
		g.one(w, r, q, id, op)
	case "batch_delete", "batch_archive":
		g.batch(w, r, q, strings.TrimPrefix(op, "batch_"))
	case "delete_all", "archive_all":
		if state == "completed" { // done tasks: nothing runs them again
			g.next.ServeHTTP(w, r)
			return
		}
		g.all(w, r, q, group, state, strings.TrimSuffix(op, "_all"))
	default: // run, run_all, batch_run, cancel...: see the type's comment
		g.next.ServeHTTP(w, r)
	}
}

// one deletes or archives one task, or cancels its request, or refuses.
func (g *guard) one(w http.ResponseWriter, r *http.Request, q, id, op string) {
	v, msg, err := g.decide(r.Context(), q, id)
	switch {
	case err != nil:
		writeError(w, err)
	case v == pass:
		g.next.ServeHTTP(w, r)
	case v == refuse:
		http.Error(w, msg, http.StatusConflict)
	default:
		st, err := g.cancel(r.Context(), id)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"request_id": st.RequestID, "state": st.State,
			"message": fmt.Sprintf("%s: request %s is cancelled, as noderemover cancel does: its task is removed and its nodes are free (not archived: nothing is left to run)", op, st.RequestID)})
	}
}

// batch is one for each id of the body, answered as asynqmon answers.
func (g *guard) batch(w http.ResponseWriter, r *http.Request, q, op string) {
	var body struct {
		TaskIDs []string `json:"task_ids"`
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		err = dec.Decode(&body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	done, refused, err := g.each(r.Context(), q, body.TaskIDs, op)
	if err != nil {
		writeError(w, err)
		return
	}
	failed := make([]string, 0, len(refused))
	for id := range refused {
		failed = append(failed, id)
	}
	resp := map[string]any{"refused": refused}
	if op == "delete" {
		resp["deleted_ids"], resp["failed_ids"] = done, failed
	} else {
		resp["archived_ids"], resp["error_ids"] = done, failed
	}
	writeJSON(w, resp)
}

// all is batch over every task in the state when the call came.
func (g *guard) all(w http.ResponseWriter, r *http.Request, q, group, state, op string) {
	ids, err := g.list(q, group, state)
	if err != nil {
		writeError(w, err)
		return
	}
	done, refused, err := g.each(r.Context(), q, ids, op)
	if err != nil {
		writeError(w, err)
		return
	}
	key := map[string]string{"delete": "deleted", "archive": "archived"}[op]
	writeJSON(w, map[string]any{key: len(done), "refused": refused})
}

// each applies op to each task as decided; an error stops it (what was done
// stays done, as in asynqmon's own batches).
func (g *guard) each(ctx context.Context, q string, ids []string, op string) ([]string, map[string]string, error) {
	done, refused := []string{}, map[string]string{}
	for _, id := range ids {
		v, msg, err := g.decide(ctx, q, id)
		if err != nil {
			return done, refused, err
		}
		switch v {
		case refuse:
			refused[id] = msg
			continue
		case cancel:
			if _, err := g.cancel(ctx, id); errors.Is(err, enqueuer.ErrNotCancellable) {
				refused[id] = err.Error()
				continue
			} else if err != nil {
				return done, refused, err
			}
		case pass:
			if op == "delete" {
				err = g.inspector.DeleteTask(q, id)
			} else {
				err = g.inspector.ArchiveTask(q, id)
			}
			if err != nil {
				refused[id] = err.Error()
				continue
			}
		}
		done = append(done, id)
	}
	return done, refused, nil
}

// decide says what deleting or archiving task id of queue q may mean.
func (g *guard) decide(ctx context.Context, q, id string) (verdict, string, error) {
	info, err := g.inspector.GetTaskInfo(q, id)
	if err != nil || info.State == asynq.TaskStateCompleted {
		return pass, "", nil // asynqmon says what is wrong; a completed task never runs again
	}
	switch info.Type {
	case tasks.TypeRemoveNodes:
		p, err := tasks.DecodeRemoveNodes(info.Payload)
		if err != nil {
			return pass, "", nil // the worker archives it unread
		}
		open, _, err := g.open(ctx, p.RequestID)
		if err != nil || !open {
			return pass, "", err
		}
		return cancel, "", nil
	case tasks.TypePollJob:
		p, err := tasks.DecodePollJob(info.Payload)
		if err != nil {
			return pass, "", nil
		}
		var followed []string
		for _, rid := range p.RequestIDs {
			open, _, err := g.open(ctx, rid)
			if err != nil {
				return pass, "", err
			}
			if open {
				followed = append(followed, rid)
			}
		}
		if len(followed) == 0 {
			return pass, "", nil
		}
		return refuse, fmt.Sprintf("task %s follows CCE job %s, which removes the nodes of requests %s: without it they would stay polling for ever; CCE cannot cancel a running removal, so let it run (run it, if it is archived)",
			id, p.JobID, strings.Join(followed, ", ")), nil
	case tasks.TypeUncordon:
		p, err := tasks.DecodeUncordon(info.Payload)
		if err != nil {
			return pass, "", nil
		}
		if _, found, err := g.open(ctx, p.RequestID); err != nil || !found {
			return pass, "", err // the record expired: nothing says which Nodes any more
		}
		return refuse, fmt.Sprintf("task %s makes schedulable again the Kubernetes Nodes request %s cordoned and no longer needs: without it they would stay cordoned; let it run (run it, if it is archived: it uncordons only Nodes the request's own mark is on)",
			id, p.RequestID), nil
	}
	return pass, "", nil
}

// open reports whether request id is not final, and whether it has a record.
func (g *guard) open(ctx context.Context, id string) (open, found bool, err error) {
	if g.requests == nil {
		return false, false, errors.New("the dashboard was started without access to requests; it cannot tell what a task carries")
	}
	st, err := g.requests.Status(ctx, id)
	switch {
	case errors.Is(err, enqueuer.ErrNotFound):
		return false, false, nil
	case errors.Is(err, enqueuer.ErrInvalid):
		return false, false, nil // not a request id the product could have made: not ours
	case err != nil:
		return false, false, err
	}
	return !st.State.Final(), true, nil
}

// cancel cancels the request whose node:remove task is id.
func (g *guard) cancel(ctx context.Context, taskID string) (enqueuer.Status, error) {
	info, err := g.inspector.GetTaskInfo(tasks.Queue, taskID)
	if err != nil {
		return enqueuer.Status{}, err
	}
	p, err := tasks.DecodeRemoveNodes(info.Payload)
	if err != nil {
		return enqueuer.Status{}, err
	}
	return g.requests.Cancel(ctx, p.RequestID)
}

// list returns the ids of the tasks of q (and group) in state.
func (g *guard) list(q, group, state string) ([]string, error) {
	const size = 1000
	var ids []string
	for page := 1; ; page++ {
		opts := []asynq.ListOption{asynq.PageSize(size), asynq.Page(page)}
		var infos []*asynq.TaskInfo
		var err error
		switch state {
		case "pending":
			infos, err = g.inspector.ListPendingTasks(q, opts...)
		case "scheduled":
			infos, err = g.inspector.ListScheduledTasks(q, opts...)
		case "retry":
			infos, err = g.inspector.ListRetryTasks(q, opts...)
		case "archived":
			infos, err = g.inspector.ListArchivedTasks(q, opts...)
		case "aggregating":
			infos, err = g.inspector.ListAggregatingTasks(q, group, opts...)
		}
		if err != nil {
			return nil, err
		}
		for _, t := range infos {
			ids = append(ids, t.ID)
		}
		if len(infos) < size {
			return ids, nil
		}
	}
}

// writeError answers 409 for a request CCE accepted, 503 when Redis is
// away, 500 otherwise, with the error's text (asynqmon's UI shows it).
func writeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, enqueuer.ErrNotCancellable):
		http.Error(w, err.Error()+"; its task stays", http.StatusConflict)
	case errors.Is(err, enqueuer.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
