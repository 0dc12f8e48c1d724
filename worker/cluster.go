package worker

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// One RemoveNode job per cluster, across every worker: a batch holds its
// cluster's lease from the moment it is formed until its job ends. Requests
// that arrive meanwhile wait (without using attempts) and go together in the
// cluster's next call.

// leaseMargin is added to the time until a batch's next step to get how
// long its lease lasts: if every worker died, the cluster is free again
// that long after the step was due.
const leaseMargin = 30 * time.Second

// sendingLease is how long a batch holds its cluster around one call.
func (w *Server) sendingLease() time.Duration { return w.cfg.CCETimeout + sendMargin + leaseMargin }

// pollLease is how long a batch whose job runs holds its cluster until the
// poll due in next.
func (w *Server) pollLease(next time.Duration) time.Duration {
	return next + w.cfg.CCETimeout + leaseMargin
}

// driveCluster forms the cluster's next batch from the requests waiting for
// it, as the request rec's task, and sends it; or says how long to wait.
func (w *Server) driveCluster(ctx context.Context, rec *removal.Record) error {
	b, changes, err := w.store.FormBatch(ctx, rec.ProjectID, rec.ClusterID, removal.FormOptions{
		Merge:       w.cfg.BatchWindow > 0,
		Window:      w.cfg.BatchWindow,
		MaxAttempts: w.cfg.SubmitMaxAttempts,
		LeaseTTL:    w.sendingLease(),
		Gate:        w.writes.take,
	}, w.markSending)
	for _, c := range changes {
		why := "sending RemoveNode"
		if c.Record.State.Final() {
			why = "attempts used up"
		}
		w.recordChange(b, &c, why)
	}
	var busy *removal.BusyError
	var later *removal.WaitError
	switch {
	case err == nil:
		if err := w.call(ctx, b); err != nil {
			return err
		}
		if !b.Has(rec.RequestID) {
			// The batch went without this request (another login, or no
			// room): it waits for the cluster's next one.
			return errLookAgain
		}
		return nil
	case errors.As(err, &busy):
		// The holder's end kicks the oldest waiting request; this is the
		// fallback should that kick be lost.
		return waitFor(jitter(clamp(busy.Left, time.Second, w.cfg.PollIntervalMax)), "%v", busy)
	case errors.As(err, &later):
		return waitFor(later.After, "cluster %s: %s", rec.ClusterID, later.Reason)
	case errors.Is(err, removal.ErrNothingQueued):
		// Someone else's batch took this request meanwhile, or it was not
		// waiting (a record from before waiting sets): look again.
		return w.stillQueued(ctx, rec)
	}
	return err
}

// stillQueued handles a request FormBatch did not find waiting: if it is
// still queued, it is put back in its cluster's waiting set.
func (w *Server) stillQueued(ctx context.Context, rec *removal.Record) error {
	cur, err := w.store.Get(ctx, rec.RequestID)
	if err != nil {
		return err
	}
	if cur.State != removal.StateQueued {
		return wait(0, "request %s joined a batch", rec.RequestID)
	}
	if err := w.store.EnsureWaiting(ctx, cur); err != nil {
		return err
	}
	return wait(0, "request %s was not waiting for its cluster; it is now", rec.RequestID)
}

// holdLease makes sure b holds its cluster before it sends or reconciles.
func (w *Server) holdLease(ctx context.Context, b *removal.Batch) error {
	err := w.store.HoldLease(ctx, b, w.sendingLease())
	var busy *removal.BusyError
	if errors.As(err, &busy) {
		return waitFor(jitter(clamp(busy.Left, time.Second, w.cfg.PollIntervalMax)), "%v", busy)
	}
	return err
}

// kick wakes the task of the request that has waited longest for a cluster
// that just became free, instead of letting it sleep out its wait.
func (w *Server) kick(ctx context.Context, project, cluster string) {
	id, ok, err := w.store.OldestWaiting(ctx, project, cluster)
	if err != nil || !ok {
		return
	}
	err = w.inspector.RunTask(tasks.Queue, tasks.RemoveNodesTaskID(id))
	if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		w.log.Debug().Err(err).Str("request_id", id).Msg("kick waiting request")
	}
}

// jitter spreads waits of many tasks over ±20%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d - d/5 + rand.N(2*d/5+1)
}
