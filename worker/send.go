package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/removal"
)

// sendMargin is added to the CCE call timeout to get the moment a call marked
// sending is surely over, whatever happened to the worker that made it.
const sendMargin = 5 * time.Second

// sendInput is the input of the send event at now.
func (w *Server) sendInput(now time.Time) removal.Input {
	return removal.Input{Now: now, Until: now.Add(w.cfg.CCETimeout + sendMargin)}
}

// sendReady sends a ready batch (one whose earlier call was found not to
// have gone out): it holds its cluster's lease, takes a write slot, records
// the intent and calls; or gives up when its attempts are used up.
func (w *Server) sendReady(ctx context.Context, b *removal.Batch) error {
	if err := w.holdLease(ctx, b); err != nil {
		return err
	}
	if b.Attempt >= w.cfg.SubmitMaxAttempts {
		_, err := w.stepBatch(ctx, b, removal.EventGiveUp, removal.Input{Now: w.now()}, "attempts used up")
		return err
	}
	if err := w.heldByPause(ctx, b.ClusterID, b.RequestIDs()...); err != nil {
		return err
	}
	if err := w.readyHold(ctx, b); err != nil {
		return err
	}
	slot, d, err := w.limitsOf(b.Region, b.ProjectID).writes.Take(ctx, inlineWait)
	if err != nil {
		return err
	}
	if d > 0 {
		return wait(d, "batch %s: RemoveNode rate limit", b.ID)
	}
	res, err := w.stepBatch(ctx, b, removal.EventSend, w.sendInput(w.now()), "sending RemoveNode")
	if err != nil {
		slot.Return(context.WithoutCancel(ctx))
		return err
	}
	return w.call(ctx, res.Batch, true)
}

// call makes the RemoveNode call of a batch marked sending, right after the
// write slot for it was taken, and moves the batch on by what CCE answered. renew says
// whether the batch's lease must be extended to its first poll when CCE
// accepts it (a batch formed now holds it long enough already).
func (w *Server) call(ctx context.Context, b *removal.Batch, renew bool) error {
	w.log.Info().Str("batch_id", b.ID).Str("cluster_id", b.ClusterID).Strs("request_ids", b.RequestIDs()).
		Int("nodes", len(b.Nodes())).Int("attempt", b.Attempt).Msg("calling RemoveNode")
	cctx, cancel := context.WithTimeout(ctx, w.cfg.CCETimeout)
	jobID, callErr := w.cceOf(b.Region).RemoveNodes(cctx, b.ProjectID, b.ClusterID, cceLogin(b.Login), b.Nodes())
	cancel()
	// What the call did is recorded even when the handler's own context
	// ended meanwhile (a shutdown cut it off).
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	if callErr == nil {
		w.limitsOf(b.Region, b.ProjectID).writes.Succeeded(bctx)
		return w.accepted(bctx, b, jobID, renew)
	}
	return w.sendFailed(bctx, b, callErr)
}

// accepted records the job CCE started, keeps the cluster's lease until
// about the first poll, and schedules that poll.
func (w *Server) accepted(ctx context.Context, b *removal.Batch, jobID string, renew bool) error {
	res, err := w.stepBatch(ctx, b, removal.EventAccepted, removal.Input{Now: w.now(), JobID: jobID}, "CCE accepted the removal")
	if err != nil {
		// CCE accepted the call but the record could not say so: the batch
		// stays sending, and the next run finds the job through the nodes.
		return fmt.Errorf("record job %s of batch %s: %w", jobID, b.ID, err)
	}
	first := w.firstPollDelay(ctx, b.ProjectID, b.ClusterID)
	if renew {
		if _, err := w.leases.RenewLease(ctx, res.Batch, w.pollLease(first)); err != nil {
			w.log.Warn().Err(err).Str("batch_id", b.ID).Msg("renew cluster lease")
		}
	}
	return w.schedulePoll(ctx, res.Batch, first)
}

// sendFailed moves a batch on by what a failed RemoveNode call means, and
// says what the request's task does next:
//
//   - outcome unknown (no answer, 5xx): the batch stays sending; the next
//     run asks CCE about every node before anything is sent again;
//   - throttled, or the cluster locked by another operation: nothing was
//     done; its requests wait again, no attempt used; a rate 429 also slows
//     every worker down;
//   - refused for good: the nodes CCE names fail and the rest wait again,
//     or every request fails (the lifecycle's refused event decides);
//   - any other definite answer: its requests wait again, the attempt
//     counted.
func (w *Server) sendFailed(ctx context.Context, b *removal.Batch, callErr error) error {
	log := w.log.With().Str("batch_id", b.ID).Strs("request_ids", b.RequestIDs()).Str("cluster_id", b.ClusterID).
		Int("attempt", b.Attempt).Logger()
	in := removal.Input{Now: w.now(), Reason: callErr.Error()}

	if refused := w.refusedCredentials("RemoveNodes", callErr); refused != nil {
		// Nothing was done: as a 429, the requests wait again and the
		// attempt is taken back.
		log.Warn().Err(callErr).Msg("CCE refused this worker's credentials; the requests wait")
		if _, err := w.stepBatch(ctx, b, removal.EventThrottled, in, "CCE refused the worker's credentials; back to waiting"); err != nil {
			return err
		}
		return refused
	}
	if cce.MaybeApplied(callErr) {
		log.Warn().Err(callErr).Msg("RemoveNode outcome unknown; nodes will be checked before anything is sent again")
		if _, err := w.stepBatch(ctx, b, removal.EventOutcomeUnknown, in, "RemoveNode outcome unknown"); err != nil {
			return err
		}
		return fmt.Errorf("remove nodes (outcome unknown): %w", callErr)
	}
	switch cce.Classify(callErr) {
	case cce.ClassThrottled:
		busy := cce.IsClusterBusy(callErr)
		if !busy {
			if err := w.limitsOf(b.Region, b.ProjectID).writes.Throttled(ctx, retryAfter(callErr)); err != nil {
				log.Warn().Err(err).Msg("slow down the write rate")
			}
		}
		log.Info().Err(callErr).Bool("cluster_busy", busy).Msg("RemoveNode throttled; waiting")
		if _, err := w.stepBatch(ctx, b, removal.EventThrottled, in, "RemoveNode throttled; back to waiting"); err != nil {
			return err
		}
		after := max(retryAfter(callErr), w.cfg.RetryBackoffMin)
		if busy {
			after = max(after, w.cfg.PollIntervalMin) // another operation runs on the cluster: minutes, likely
		}
		return waitFor(jitter(after), "RemoveNode throttled: %v", callErr)

	case cce.ClassPermanent:
		in.Reason, in.Outcomes = failureReason(callErr), w.culprits(ctx, b, callErr)
		log.Warn().Err(callErr).Int("refused_nodes", len(in.Outcomes)).Msg("CCE refused the removal")
		res, err := w.stepBatch(ctx, b, removal.EventRefused, in, "CCE refused the removal")
		if err != nil {
			return err
		}
		for _, c := range res.Changes {
			if c.Record.State == removal.StateQueued {
				return wait(0, "send again what CCE did not refuse") // alone, or without the refused nodes
			}
		}
		return giveUp("CCE refused the removal: %s", in.Reason)
	}
	log.Warn().Err(callErr).Msg("RemoveNode failed; will retry")
	if _, err := w.stepBatch(ctx, b, removal.EventFailed, in, "RemoveNode failed; back to waiting"); err != nil {
		return err
	}
	return fmt.Errorf("remove nodes: %w", callErr)
}

// culprits finds the nodes a refused call was refused for: those its error
// names, or, when it names none and the batch is one request of several
// nodes, those CCE shows missing or in a phase that cannot be removed (as
// far as the read rate allows asking now).
func (w *Server) culprits(ctx context.Context, b *removal.Batch, callErr error) map[string]removal.Node {
	reason := failureReason(callErr)
	msg := strings.ToLower(callErr.Error())
	out := map[string]removal.Node{}
	for _, uid := range b.Nodes() {
		if strings.Contains(msg, strings.ToLower(uid)) {
			out[uid] = removal.Node{State: removal.NodeFailed, Reason: reason}
		}
	}
	if len(out) > 0 || len(b.Members) != 1 || len(b.Nodes()) < 2 {
		return out
	}
	for _, uid := range b.Nodes() {
		if _, d, err := w.limitsOf(b.Region, b.ProjectID).reads.Take(ctx, inlineWait); err != nil || d > 0 {
			return out // out of read budget: what was found so far
		}
		node, err := w.cceOf(b.Region).ShowNode(ctx, b.ProjectID, b.ClusterID, uid)
		switch {
		case cce.IsNotFound(err):
			out[uid] = removal.Node{State: removal.NodeFailed, Reason: "not in the cluster: " + reason}
		case err == nil && !node.Status.Phase.Removable():
			out[uid] = removal.Node{State: removal.NodeFailed,
				Reason: fmt.Sprintf("phase %s cannot be removed: %s", node.Status.Phase, reason)}
		}
	}
	return out
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
