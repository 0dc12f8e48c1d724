package worker

import (
	"context"
	"errors"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// handleRemoveNodes is the task of one request (node:remove). Each run
// carries the request on by one step; a run that asynq will not repeat and
// that fails ends the request, so that no record stays open for ever.
func (w *Server) handleRemoveNodes(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.DecodeRemoveNodes(t.Payload())
	if err != nil {
		w.log.Error().Err(err).Str("task", t.Type()).Msg("archiving task with an undecodable payload")
		return err
	}
	err = w.carry(ctx, p)
	if err == nil {
		w.requestResult(ctx, t, p.RequestID)
	}
	var expired *credentialsExpired
	if errors.As(err, &expired) {
		w.abandon(ctx, p.RequestID, expired.Reason(), "CCE refused the worker's credentials past CREDENTIALS_GRACE")
		return giveUp("request %s: %v", p.RequestID, expired.Reason())
	}
	if err != nil && isFailure(err) && !errors.Is(err, asynq.SkipRetry) && lastRun(ctx) {
		w.abandon(ctx, p.RequestID, "gave up: "+err.Error(), "task runs used up")
		return giveUp("request %s: last run failed: %v", p.RequestID, err)
	}
	return err
}

// lookAgain bounds how often one run looks again at a request that moved on
// under it.
const lookAgain = 3

// carry moves a request on by one step of its life, from where it is now:
//
//	queued, to be drained; draining one pass over its nodes' Pods, then come back (drain.go)
//	queued                          form its cluster's next batch with it, and send it (form.go)
//	in a ready batch                send the batch (send.go)
//	in a sending batch, call over   ask CCE about each node, then send what did not go (reconcile.go)
//	in an accepted batch            its job's polls carry it (poll_job.go): make sure one is scheduled
//	in a batch that ended           look again: it may be waiting for the next batch
//	final                           uncordon what it cordoned and no longer needs, if anything
//
// Every move of a batch goes through the lifecycle table (removal.Step) by
// the store. When another run moved the batch on in between
// (removal.ErrStale), or this run moved the cluster on without the request
// (errLookAgain), it looks again. The task ends when the request is final
// or its job's polls have taken over; otherwise it waits (without using an
// attempt) or retries.
func (w *Server) carry(ctx context.Context, p tasks.RemoveNodes) error {
	for range lookAgain {
		err := w.carryOnce(ctx, p)
		if !errors.Is(err, removal.ErrStale) && !errors.Is(err, errLookAgain) {
			return err
		}
	}
	return wait(0, "request %s keeps moving; looking again", p.RequestID)
}

func (w *Server) carryOnce(ctx context.Context, p tasks.RemoveNodes) error {
	rec, f, err := w.look(ctx, p)
	var busy *store.BusyError
	switch {
	case errors.Is(err, removal.ErrNotFound):
		return giveUp("request %s has no record (expired or never stored)", p.RequestID)
	case errors.As(err, &busy):
		return busyWait(busy)
	case err != nil:
		return err
	case !rec.State.Final() && w.serves(rec.Region) != nil:
		return w.unserved(ctx, rec, f)
	case f != nil:
		return w.formAndSend(ctx, rec, f)
	case rec.State.Final():
		return w.uncordon(ctx, rec)
	case rec.Draining():
		if rec.NeedsDrain() { // a drain that has not begun passes the guardrails first
			if err := w.admitDrain(ctx, rec); err != nil {
				return err
			}
		}
		return w.drain(ctx, rec)
	case rec.State == removal.StateQueued:
		return errLookAgain
	}
	b, err := w.batches.GetBatch(ctx, rec.BatchID)
	if errors.Is(err, removal.ErrNotFound) {
		w.abandon(ctx, rec.RequestID, "internal: batch "+rec.BatchID+" of this request is lost", "batch lost")
		return nil
	}
	if err != nil {
		return err
	}
	return w.moveBatch(ctx, b)
}

// moveBatch takes a batch's next step, by where it stands.
func (w *Server) moveBatch(ctx context.Context, b *removal.Batch) error {
	switch b.State {
	case removal.BatchReady:
		return w.sendReady(ctx, b)
	case removal.BatchSending:
		return w.reconcileAndSend(ctx, b)
	case removal.BatchAccepted:
		return w.ensurePoll(ctx, b)
	}
	return errLookAgain // the batch ended (without the request, or with it): what is the request now?
}

// look reads the request and, when it is queued, takes its cluster's lease
// to form the next batch, in one round trip (the usual case of a request's
// first run).
func (w *Server) look(ctx context.Context, p tasks.RemoveNodes) (*removal.Record, *store.Forming, error) {
	project, cluster := p.ProjectID, p.ClusterID
	if project == "" || cluster == "" { // a payload of an earlier version
		rec, err := w.records.Get(ctx, p.RequestID)
		if err != nil || rec.State != removal.StateQueued {
			return rec, nil, err
		}
		project, cluster = rec.ProjectID, rec.ClusterID
	}
	_, _, known := w.jobTimes.cached(project, cluster)
	rec, f, err := w.batches.BeginForming(ctx, p.RequestID, project, cluster, w.sendingLease(), !known)
	if f != nil && f.JobTimes != nil {
		w.jobTimes.remember(project, cluster, f.JobTimes.Typical, f.JobTimes.Known)
	}
	return rec, f, err
}

// unserved ends a request of a region this worker has no CCE client for:
// the enqueuer refuses such a region, so only a fleet whose regions changed
// (or a producer with other settings) gets here, and waiting would not
// help.
func (w *Server) unserved(ctx context.Context, rec *removal.Record, f *store.Forming) error {
	if f != nil && f.Token != "" {
		if err := w.batches.ReleaseForming(context.WithoutCancel(ctx), f); err != nil {
			w.log.Warn().Err(err).Str("cluster_id", f.Cluster).Msg("release cluster lease")
		}
	}
	why := w.serves(rec.Region).Error()
	w.abandon(ctx, rec.RequestID, why, "region not served")
	return giveUp("request %s: %s", rec.RequestID, why)
}

// abandon fails a request the lifecycle cannot carry on (its task runs are
// used up, or its batch is lost), so its record does not stay open for ever.
func (w *Server) abandon(ctx context.Context, requestID, reason, why string) {
	_, ch, err := w.records.Abandon(context.WithoutCancel(ctx), requestID, reason)
	if err != nil {
		w.log.Warn().Err(err).Str("request_id", requestID).Msg("could not end the request: " + why)
		return
	}
	w.recordChange(nil, ch, why)
	if ch != nil {
		w.releaseNodes(ctx, []removal.Change{*ch})
	}
}

// stepBatch moves batch seen on by event ev through the store and logs and
// counts the requests it changed.
func (w *Server) stepBatch(ctx context.Context, seen *removal.Batch, ev removal.Event, in removal.Input, why string) (store.Result, error) {
	res, err := w.batches.Step(ctx, seen, ev, in)
	if err != nil {
		return res, err
	}
	w.recordChanges(res.Batch, res.Changes, why)
	w.releaseNodes(ctx, res.Changes)
	w.wakeCarried(ctx, res.Changes)
	w.kickNext(res)
	return res, nil
}

// wakeCarried wakes the task of each request this step handed to CCE's job
// (polling: the job's polls carry it now) or ended. Requests another
// request's task took into its batch still have their own task asleep in
// asynq's retry list, its last error a wait for the busy cluster; woken, it
// finds the job or the end, completes, and does not sit there looking like a
// failure while CCE runs the removal. The task running this step (asynq
// puts its id in the handler's context) is not woken: it is about to end.
func (w *Server) wakeCarried(ctx context.Context, changes []removal.Change) {
	own, _ := asynq.GetTaskID(ctx)
	for _, c := range changes {
		if tasks.RemoveNodesTaskID(c.Record.RequestID) == own {
			continue
		}
		if c.Record.State == removal.StatePolling || c.Record.State.Final() {
			w.kickRequest(c.Record.RequestID)
		}
	}
}

// kickNext wakes the request that waits longest for the cluster a batch
// just gave back, when the batch is over for its requests. A batch whose
// requests went back to waiting (throttled, refused in part, failed) wakes
// no one: they wait as their tasks said, or the wake-up would undo the wait.
func (w *Server) kickNext(res store.Result) {
	if res.Next == "" {
		return
	}
	for _, c := range res.Changes {
		if c.Record.State == removal.StateQueued {
			return
		}
	}
	w.kickRequest(res.Next)
}

// lastRun reports whether asynq will not run the task again after a failure.
func lastRun(ctx context.Context) bool {
	retried, ok1 := asynq.GetRetryCount(ctx)
	maxRetry, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && retried >= maxRetry
}

// errLookAgain: this run moved the request's cluster or batch on, and what
// the request needs next takes a fresh look (say, a batch went without it:
// it waits for the cluster's next one).
var errLookAgain = errors.New("look at the request again")
