package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// sendMargin is added to the CCE call timeout to get the moment a call marked
// sending is surely over, whatever happened to the worker that made it.
const sendMargin = 5 * time.Second

// errStale: the batch changed under us (another run of the task moved it on).
var errStale = errors.New("batch changed by another worker")

// handleRemoveNodes carries one request to CCE: it forms the request's batch,
// or picks up the one it is already in, and moves it on by one step.
func (w *Server) handleRemoveNodes(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.DecodeRemoveNodes(t.Payload())
	if err != nil {
		w.log.Error().Err(err).Str("task", t.Type()).Msg("archiving task with an undecodable payload")
		return err
	}
	err = w.removeNodes(ctx, p)
	if err != nil && isFailure(err) && !errors.Is(err, asynq.SkipRetry) && lastRun(ctx) {
		w.abandon(ctx, p.RequestID, err)
		return giveUp("request %s: last run failed: %v", p.RequestID, err)
	}
	return err
}

func (w *Server) removeNodes(ctx context.Context, p tasks.RemoveNodes) error {
	// The common case first: a queued request becomes a batch marked
	// sending in one transaction.
	b, changes, err := w.store.StartBatch(ctx, []string{p.RequestID}, w.markSending)
	if err == nil {
		w.recordChanges(b, changes, "sending RemoveNode")
		return w.call(ctx, b)
	}
	if !errors.Is(err, removal.ErrNothingQueued) {
		return err
	}
	rec, err := w.store.Get(ctx, p.RequestID)
	if errors.Is(err, removal.ErrNotFound) {
		return giveUp("request %s has no record (expired or never stored)", p.RequestID)
	}
	if err != nil {
		return err
	}
	if rec.State.Final() {
		return nil
	}
	if rec.State == removal.StateQueued {
		return wait(0, "request %s was queued again while this run looked at it", rec.RequestID)
	}
	b, err = w.store.GetBatch(ctx, rec.BatchID)
	if errors.Is(err, removal.ErrNotFound) {
		_, ch, uerr := w.store.Update(ctx, rec.RequestID, func(r *removal.Record) error {
			r.Fail("internal: batch "+rec.BatchID+" of this request is lost", w.now())
			return nil
		})
		w.recordChange(nil, ch, "batch lost")
		return uerr
	}
	if err != nil {
		return err
	}
	return w.drive(ctx, b)
}

// drive moves a batch on by one step according to its state.
func (w *Server) drive(ctx context.Context, b *removal.Batch) error {
	switch b.State {
	case removal.BatchDone:
		return nil
	case removal.BatchAccepted:
		return w.ensurePoll(ctx, b)
	case removal.BatchSending:
		if wait := b.SendingUntil.Sub(w.now()); wait > 0 {
			return waitFor(wait, "batch %s: a RemoveNode call may still be under way", b.ID)
		}
		nb, err := w.reconcile(ctx, b)
		if err != nil {
			return err
		}
		if nb.State != removal.BatchReady {
			return w.drive(ctx, nb)
		}
		return w.send(ctx, nb)
	default:
		return w.send(ctx, b)
	}
}

// waitFor waits d, rounded up to whole seconds as asynq schedules.
func waitFor(d time.Duration, format string, args ...any) error {
	return wait(d.Truncate(time.Second)+time.Second, format, args...)
}

// send makes the RemoveNode call of a ready batch. The intent is recorded
// first, so a run that finds it later knows to ask CCE before sending again.
func (w *Server) send(ctx context.Context, b *removal.Batch) error {
	if b.Attempt >= w.cfg.SubmitMaxAttempts {
		reason := fmt.Sprintf("gave up after %d RemoveNode calls; last error: %s", b.Attempt, b.LastError)
		b, changes, err := w.store.UpdateBatch(ctx, b, func(b *removal.Batch, recs map[string]*removal.Record) error {
			b.FailAll(recs, reason, w.now())
			return nil
		})
		w.recordChanges(b, changes, "attempts used up")
		return err
	}
	attempt := b.Attempt
	b, changes, err := w.store.UpdateBatch(ctx, b, func(b *removal.Batch, recs map[string]*removal.Record) error {
		if b.State != removal.BatchReady || b.Attempt != attempt {
			return errStale
		}
		return w.markSending(b, recs)
	})
	if errors.Is(err, errStale) {
		return waitFor(0, "batch moved on by another run")
	}
	if err != nil {
		return err
	}
	w.recordChanges(b, changes, "sending RemoveNode")
	return w.call(ctx, b)
}

// markSending records the intent to call RemoveNode for a ready batch.
func (w *Server) markSending(b *removal.Batch, recs map[string]*removal.Record) error {
	now := w.now()
	return b.MarkSending(recs, now.Add(w.cfg.CCETimeout+sendMargin), now)
}

// call makes the RemoveNode call of a batch marked sending and records what
// came of it.
func (w *Server) call(ctx context.Context, b *removal.Batch) error {
	w.log.Info().Str("batch_id", b.ID).Str("cluster_id", b.ClusterID).Strs("request_ids", b.RequestIDs()).
		Int("nodes", len(b.Nodes())).Int("attempt", b.Attempt).Msg("calling RemoveNode")

	cctx, cancel := context.WithTimeout(ctx, w.cfg.CCETimeout)
	jobID, callErr := w.cce.RemoveNodes(cctx, b.ProjectID, b.ClusterID, cceLogin(b.Login), b.Nodes())
	cancel()
	// What the call did is recorded even when the handler's own context
	// ended meanwhile (a shutdown cut it off).
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	if callErr == nil {
		return w.accept(bctx, b, jobID)
	}
	return w.sendFailed(bctx, b, callErr)
}

// accept records the job CCE started and schedules its first poll.
func (w *Server) accept(ctx context.Context, b *removal.Batch, jobID string) error {
	attempt := b.Attempt
	b, changes, err := w.store.UpdateBatch(ctx, b, func(b *removal.Batch, recs map[string]*removal.Record) error {
		if b.State != removal.BatchSending || b.Attempt != attempt {
			return errStale
		}
		b.Accept(recs, jobID, w.now())
		return nil
	})
	if err != nil {
		// CCE accepted the call but the record could not say so: the batch
		// stays sending, and the next run finds the job through the nodes.
		return fmt.Errorf("record job %s of batch: %w", jobID, err)
	}
	w.recordChanges(b, changes, "CCE accepted the removal")
	return w.ensurePoll(ctx, b)
}

// sendFailed decides what a failed RemoveNode call means for the batch.
func (w *Server) sendFailed(ctx context.Context, b *removal.Batch, callErr error) error {
	attempt := b.Attempt
	log := w.log.With().Str("batch_id", b.ID).Strs("request_ids", b.RequestIDs()).Str("cluster_id", b.ClusterID).Int("attempt", attempt).Logger()
	if cce.MaybeApplied(callErr) {
		// CCE may have accepted it: the batch stays sending and the next run
		// asks CCE about every node before it sends anything.
		_, _, err := w.store.UpdateBatch(ctx, b, func(b *removal.Batch, _ map[string]*removal.Record) error {
			if b.State != removal.BatchSending || b.Attempt != attempt {
				return errStale
			}
			b.SendingUntil, b.LastError = w.now(), callErr.Error()
			return nil
		})
		log.Warn().Err(callErr).Msg("RemoveNode outcome unknown; nodes will be checked before anything is sent again")
		return errors.Join(fmt.Errorf("remove nodes (outcome unknown): %w", callErr), err)
	}
	class := cce.Classify(callErr)
	var reason string
	b, changes, err := w.store.UpdateBatch(ctx, b, func(b *removal.Batch, recs map[string]*removal.Record) error {
		if b.State != removal.BatchSending || b.Attempt != attempt {
			return errStale
		}
		switch class {
		case cce.ClassPermanent:
			reason = failureReason(callErr)
			b.FailAll(recs, reason, w.now())
		case cce.ClassThrottled:
			// Not carried out, and not the batch's fault: no attempt used,
			// but each wait in a row is longer.
			b.Throttled++
			b.Attempt--
			for _, m := range b.Members {
				if r := recs[m.RequestID]; r != nil {
					r.Attempts--
				}
			}
			b.Unsend(callErr.Error())
		default:
			b.Unsend(callErr.Error())
		}
		return nil
	})
	if err != nil {
		return errors.Join(fmt.Errorf("remove nodes: %w", callErr), err)
	}
	switch class {
	case cce.ClassPermanent:
		w.recordChanges(b, changes, "CCE refused the removal")
		return giveUp("CCE refused the removal: %s", reason)
	case cce.ClassThrottled:
		log.Info().Err(callErr).Msg("RemoveNode throttled; waiting")
		return waitBackoff(retryAfter(callErr), b.Throttled, "RemoveNode throttled: %v", callErr)
	default:
		log.Warn().Err(callErr).Msg("RemoveNode failed; will retry")
		return fmt.Errorf("remove nodes: %w", callErr)
	}
}

// failureReason is what a request records when CCE refused it for good: CCE's
// code and message.
func failureReason(err error) string {
	var ce *cce.Error
	if errors.As(err, &ce) {
		if ce.Code != "" {
			return fmt.Sprintf("%s: %s (HTTP %d)", ce.Code, ce.Message, ce.StatusCode)
		}
		return fmt.Sprintf("HTTP %d: %s", ce.StatusCode, ce.Message)
	}
	return err.Error()
}

func retryAfter(err error) time.Duration {
	var ce *cce.Error
	if errors.As(err, &ce) {
		return ce.RetryAfter
	}
	return 0
}

// cceLogin is the login in the form RemoveNode takes.
func cceLogin(l removal.Login) cce.Login {
	if l.SSHKey != "" {
		return cce.Login{SSHKey: l.SSHKey}
	}
	return cce.Login{UserPassword: &cce.UserPassword{Username: l.Username, Password: l.PasswordHash}}
}

// lastRun reports whether asynq will not run the task again after a failure.
func lastRun(ctx context.Context) bool {
	retried, ok1 := asynq.GetRetryCount(ctx)
	maxRetry, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && retried >= maxRetry
}

// abandon fails a request whose task asynq is about to archive, so its record
// does not stay unfinished for ever.
func (w *Server) abandon(ctx context.Context, requestID string, cause error) {
	_, ch, err := w.store.Update(ctx, requestID, func(r *removal.Record) error {
		if r.State.Final() {
			return errStale
		}
		r.Fail("gave up: "+cause.Error(), w.now())
		return nil
	})
	if err == nil {
		w.recordChange(nil, ch, "task runs used up")
	}
}
