package worker

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
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

// formingLease is how long a batch formed now holds its cluster: past its
// call and its first poll, so that neither need renew it.
func (w *Server) formingLease(project, cluster string) time.Duration {
	return w.sendingLease() + w.firstPollDelay(context.Background(), project, cluster)
}

// driveCluster forms the cluster's next batch from the requests waiting for
// it, as the request rec's task, and sends it; or says how long to wait.
// token is the cluster's lease if the caller took it already.
func (w *Server) driveCluster(ctx context.Context, rec *removal.Record, token string) error {
	// One worker at a time forms a cluster's batch: others would race it to
	// the same requests and waste rate-limit slots on calls never made.
	if token == "" {
		var err error
		token, err = w.store.TakeForming(ctx, rec.ProjectID, rec.ClusterID, w.formingLease(rec.ProjectID, rec.ClusterID))
		if busy := (*removal.BusyError)(nil); errors.As(err, &busy) {
			return busyWait(busy)
		}
		if err != nil {
			return err
		}
	}
	b, changes, err := w.store.FormBatch(ctx, rec.ProjectID, rec.ClusterID, removal.FormOptions{
		Merge:       w.cfg.BatchWindow > 0,
		Window:      w.cfg.BatchWindow,
		MaxAttempts: w.cfg.SubmitMaxAttempts,
		LeaseTTL:    w.formingLease(rec.ProjectID, rec.ClusterID),
		Token:       token,
		Gate:        w.writes.take,
	}, w.markSending)
	if err != nil {
		if rerr := w.store.ReleaseForming(context.WithoutCancel(ctx), rec.ProjectID, rec.ClusterID, token); rerr != nil {
			w.log.Warn().Err(rerr).Str("cluster_id", rec.ClusterID).Msg("release cluster lease")
		}
	}
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
		if err := w.call(ctx, b, false); err != nil {
			return err
		}
		if !b.Has(rec.RequestID) {
			// The batch went without this request (another login, or no
			// room): it waits for the cluster's next one.
			return errLookAgain
		}
		return nil
	case errors.As(err, &busy):
		return busyWait(busy)
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
		return busyWait(busy)
	}
	return err
}

// Waiting for a busy cluster: the end of the holder's job (or any other end
// of its batch) wakes the oldest waiting request at once, and the batch it
// forms takes the others along; so the rest may sleep long. The wait is the
// fallback for a wake-up that was lost, and is spread so that the waiters of
// a cluster do not all ask at the same moment.
const (
	minBusyWait = 2 * time.Second
	maxBusyWait = time.Minute
)

func busyWait(busy *removal.BusyError) error {
	if busy.Forming() {
		return waitFor(jitter(minBusyWait), "%v", busy) // forming takes a moment
	}
	return waitFor(jitter(clamp(busy.Left, minBusyWait, maxBusyWait)), "%v", busy)
}

// kick wakes the task of the request that has waited longest for a cluster
// that just became free, instead of letting it sleep out its wait.
func (w *Server) kick(ctx context.Context, project, cluster string) {
	id, ok, err := w.store.OldestWaiting(ctx, project, cluster)
	if err != nil || !ok {
		return
	}
	w.kickRequest(id)
}

// kickTries and kickPause bound how long a kick waits for a task that is
// running right now: it may be about to go to sleep on the lease that was
// just released, and the kick must come after that, not be lost before it.
const (
	kickTries = 20
	kickPause = 100 * time.Millisecond
)

// kickRequest wakes the task of request id. A task that is running is
// woken once it has gone back to waiting, which takes a moment: that is
// done in the background, within kickTries × kickPause.
func (w *Server) kickRequest(id string) {
	if w.tryKick(id) {
		return
	}
	w.kicks.Go(func() {
		for range kickTries {
			time.Sleep(kickPause) // a handler finishing, not a condition we can wait on
			if w.tryKick(id) {
				return
			}
		}
	})
}

// tryKick moves request id's task to pending; false when it is running
// right now and should be tried again.
func (w *Server) tryKick(id string) bool {
	err := w.inspector.RunTask(tasks.Queue, tasks.RemoveNodesTaskID(id))
	switch {
	case err == nil, errors.Is(err, asynq.ErrTaskNotFound):
		return true
	case strings.Contains(err.Error(), "already in pending state"):
		return true // it runs soon anyway
	case strings.Contains(err.Error(), "already running"):
		return false
	}
	w.log.Debug().Err(err).Str("request_id", id).Msg("kick waiting request")
	return true
}

// jitter spreads waits of many tasks over ±20%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d - d/5 + rand.N(2*d/5+1)
}
