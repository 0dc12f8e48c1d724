package worker

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/internal/asynqerr"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// One RemoveNode job per cluster, across every worker: a batch holds its
// cluster's lease from the moment it is formed until its job ends. Requests
// that arrive meanwhile wait (without using attempts) and go together in the
// cluster's next call; the end of a batch wakes the oldest of them.

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

// holdLease makes sure b holds its cluster before it sends or reconciles.
func (w *Server) holdLease(ctx context.Context, b *removal.Batch) error {
	err := w.leases.HoldLease(ctx, b, w.sendingLease())
	var busy *store.BusyError
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

func busyWait(busy *store.BusyError) error {
	if busy.Forming() {
		return waitFor(jitter(minBusyWait), "%v", busy) // forming takes a moment
	}
	return waitFor(jitter(clamp(busy.Left, minBusyWait, maxBusyWait)), "%v", busy)
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
// right now and should be tried again. A wake-up is for a task that sleeps
// (scheduled, or waiting in retry), never one in the archive: someone or
// something stopped that task, and running it again would carry its request
// on behind their back (asynq's RunTask takes archived tasks out too).
func (w *Server) tryKick(id string) bool {
	info, err := w.inspector.GetTaskInfo(tasks.Queue, tasks.RemoveNodesTaskID(id))
	switch {
	case err == nil && info.State == asynq.TaskStateArchived:
		w.log.Debug().Str("request_id", id).Msg("not waking request " + id + ": its task is archived")
		return true
	case err == nil && info.State == asynq.TaskStateActive:
		return false
	case err == nil && (info.State == asynq.TaskStatePending || info.State == asynq.TaskStateCompleted):
		return true // it runs soon anyway; or it is done
	case asynqerr.NotFound(err):
		return true
	}
	err = w.inspector.RunTask(tasks.Queue, tasks.RemoveNodesTaskID(id))
	switch {
	case err == nil, asynqerr.NotFound(err), asynqerr.Pending(err): // pending: it runs soon anyway
		return true
	case asynqerr.Running(err):
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
