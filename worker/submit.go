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

// handleRemoveNodes moves one request on: a queued request gets its cluster's
// next batch formed and sent (with the other requests waiting for that
// cluster); a request in a batch moves that batch on by one step.
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
	// A request's task ends only when its request is final or in a batch CCE
	// accepted (its polls take over from there). A batch that ended without
	// it may have put it back to waiting: look again.
	for range 3 {
		err := w.removeNodesOnce(ctx, p)
		if !errors.Is(err, errLookAgain) {
			return err
		}
	}
	return wait(0, "request %s keeps moving; looking again", p.RequestID)
}

// errLookAgain: the request's batch ended; what the request is now needs a
// fresh look.
var errLookAgain = errors.New("look at the request again")

func (w *Server) removeNodesOnce(ctx context.Context, p tasks.RemoveNodes) error {
	var rec *removal.Record
	var token string
	var err error
	if p.ProjectID != "" && p.ClusterID != "" {
		rec, token, err = w.store.GetTakingForming(ctx, p.RequestID, p.ProjectID, p.ClusterID, w.formingLease(p.ProjectID, p.ClusterID))
	} else {
		rec, err = w.store.Get(ctx, p.RequestID)
	}
	if errors.Is(err, removal.ErrNotFound) {
		return giveUp("request %s has no record (expired or never stored)", p.RequestID)
	}
	if err != nil {
		return err
	}
	switch {
	case rec.State.Final():
		return nil
	case rec.State == removal.StateQueued:
		return w.driveCluster(ctx, rec, token)
	}
	b, err := w.store.GetBatch(ctx, rec.BatchID)
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
	if b.State == removal.BatchDone {
		return errLookAgain
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
		if err := w.holdLease(ctx, b); err != nil {
			return err
		}
		nb, err := w.reconcileAlone(ctx, b)
		if err != nil {
			return err
		}
		if nb.State != removal.BatchReady {
			return w.drive(ctx, nb)
		}
		return w.send(ctx, nb)
	default:
		if err := w.holdLease(ctx, b); err != nil {
			return err
		}
		return w.send(ctx, b)
	}
}

// reconcileAlone reconciles b as the only task doing so: the others wait for
// its answer. The batch is read again once the claim is held, since a task
// that held it just before may have moved the batch on already; then there
// is nothing to ask, and what the batch is now comes back.
func (w *Server) reconcileAlone(ctx context.Context, b *removal.Batch) (*removal.Batch, error) {
	token, left, err := w.store.ClaimReconcile(ctx, b.ID, w.sendingLease())
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, waitFor(jitter(clamp(left, minBusyWait, maxBusyWait)), "batch %s: another task is asking CCE about its nodes", b.ID)
	}
	defer func() {
		if err := w.store.ReleaseReconcile(context.WithoutCancel(ctx), b.ID, token); err != nil {
			w.log.Warn().Err(err).Str("batch_id", b.ID).Msg("release reconciliation claim")
		}
	}()
	cur, err := w.store.GetBatch(ctx, b.ID)
	if err != nil {
		return nil, err
	}
	switch {
	case cur.State == removal.BatchDone:
		return nil, errLookAgain // ended, perhaps putting its requests back to waiting
	case cur.State != removal.BatchSending || cur.Attempt != b.Attempt:
		return cur, nil
	}
	return w.reconcile(ctx, cur)
}

// waitFor waits d, rounded up to whole seconds as asynq schedules.
func waitFor(d time.Duration, format string, args ...any) error {
	return wait(d.Truncate(time.Second)+time.Second, format, args...)
}

// send makes the RemoveNode call of a ready batch that holds its cluster's
// lease. The intent is recorded first, so a run that finds it later knows to
// ask CCE before sending again.
func (w *Server) send(ctx context.Context, b *removal.Batch) error {
	if b.Attempt >= w.cfg.SubmitMaxAttempts {
		reason := fmt.Sprintf("gave up after %d RemoveNode calls; last error: %s", b.Attempt, b.LastError)
		nb, changes, err := w.store.UpdateBatch(ctx, b, func(b *removal.Batch, recs map[string]*removal.Record) error {
			b.FailAll(recs, reason, w.now())
			return nil
		})
		w.recordChanges(nb, changes, "attempts used up")
		w.kick(ctx, b.ProjectID, b.ClusterID)
		return err
	}
	if d, err := w.writes.take(ctx); err != nil || d > 0 {
		return errors.Join(err, waitFor(d, "RemoveNode rate limit"))
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
	return w.call(ctx, b, true)
}

// markSending records the intent to call RemoveNode for a ready batch.
func (w *Server) markSending(b *removal.Batch, recs map[string]*removal.Record) error {
	now := w.now()
	return b.MarkSending(recs, now.Add(w.cfg.CCETimeout+sendMargin), now)
}

// call makes the RemoveNode call of a batch marked sending and records what
// came of it. renew says whether the batch's lease must be extended to its
// first poll when CCE accepts it.
func (w *Server) call(ctx context.Context, b *removal.Batch, renew bool) error {
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
		w.writes.succeeded(bctx)
		return w.accept(bctx, b, jobID, renew)
	}
	return w.sendFailed(bctx, b, callErr)
}

// accept records the job CCE started, keeps the cluster's lease until about
// the first poll, and schedules that poll.
func (w *Server) accept(ctx context.Context, b *removal.Batch, jobID string, renew bool) error {
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
	first := w.firstPollDelay(ctx, b.ProjectID, b.ClusterID)
	if renew {
		if _, err := w.store.RenewLease(ctx, b, w.pollLease(first)); err != nil {
			w.log.Warn().Err(err).Str("batch_id", b.ID).Msg("renew cluster lease")
		}
	}
	return w.schedulePoll(ctx, b, first)
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
