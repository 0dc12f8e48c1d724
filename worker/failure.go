package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/removal"
)

// sendFailed decides what a failed RemoveNode call means for its batch.
//
//   - Outcome unknown (no answer, 5xx): the batch stays sending; the next
//     run asks CCE about every node before anything is sent again.
//   - Throttled, or the cluster locked by another operation: nothing was
//     done; the batch goes back to waiting, no attempt used. A rate 429
//     also slows every worker down.
//   - Refused because of particular nodes: those nodes fail with CCE's
//     reason; the others go back to waiting, to be sent without them.
//   - Refused for good otherwise: every request of the batch fails with
//     CCE's code and message.
//   - Any other definite answer: back to waiting, the attempt counted.
func (w *Server) sendFailed(ctx context.Context, b *removal.Batch, callErr error) error {
	attempt := b.Attempt
	log := w.log.With().Str("batch_id", b.ID).Strs("request_ids", b.RequestIDs()).Str("cluster_id", b.ClusterID).
		Int("attempt", attempt).Logger()
	update := func(why string, fn func(*removal.Batch, map[string]*removal.Record)) error {
		nb, changes, err := w.store.UpdateBatch(ctx, b, func(b *removal.Batch, recs map[string]*removal.Record) error {
			if b.State != removal.BatchSending || b.Attempt != attempt {
				return errStale
			}
			fn(b, recs)
			return nil
		})
		if err == nil {
			w.recordChanges(nb, changes, why)
		}
		return err
	}

	if cce.MaybeApplied(callErr) {
		err := update("RemoveNode outcome unknown", func(b *removal.Batch, _ map[string]*removal.Record) {
			b.SendingUntil, b.LastError = w.now(), callErr.Error()
		})
		log.Warn().Err(callErr).Msg("RemoveNode outcome unknown; nodes will be checked before anything is sent again")
		return errors.Join(fmt.Errorf("remove nodes (outcome unknown): %w", callErr), err)
	}

	switch cce.Classify(callErr) {
	case cce.ClassThrottled:
		busy := cce.IsClusterBusy(callErr)
		if !busy {
			if err := w.writes.throttled(ctx, retryAfter(callErr)); err != nil {
				log.Warn().Err(err).Msg("slow down the write rate")
			}
		}
		err := update("RemoveNode throttled; back to waiting", func(b *removal.Batch, recs map[string]*removal.Record) {
			uncount(b, recs) // not the batch's fault: no attempt used
			b.Dissolve(recs, callErr.Error())
		})
		log.Info().Err(callErr).Bool("cluster_busy", busy).Msg("RemoveNode throttled; waiting")
		after := max(retryAfter(callErr), w.cfg.RetryBackoffMin)
		if busy {
			after = max(after, w.cfg.PollIntervalMin) // another operation runs on the cluster: minutes, likely
		}
		return errors.Join(err, waitFor(jitter(after), "RemoveNode throttled: %v", callErr))

	case cce.ClassPermanent:
		reason := failureReason(callErr)
		culprits := w.culprits(ctx, b, callErr)
		switch {
		case len(culprits) > 0 && len(culprits) < len(b.Nodes()):
			err := update("some nodes refused; the others go back to waiting", func(b *removal.Batch, recs map[string]*removal.Record) {
				b.Resolve(recs, culprits, w.now())
				b.Dissolve(recs, "sent again without the nodes CCE refused: "+reason)
			})
			log.Warn().Err(callErr).Int("refused_nodes", len(culprits)).Msg("CCE refused some nodes; sending the rest again")
			return errors.Join(err, wait(0, "send the batch again without the refused nodes"))
		case len(culprits) == 0 && len(b.Members) > 1:
			// CCE refused the merged call without saying which node: each
			// request goes alone next time, so one cannot fail the others.
			err := update("merged call refused; each request goes alone", func(b *removal.Batch, recs map[string]*removal.Record) {
				for _, r := range recs {
					r.Solo = true
				}
				b.Dissolve(recs, "merged call refused, sent alone next: "+reason)
			})
			log.Warn().Err(callErr).Msg("CCE refused a merged call naming no node; its requests go one by one")
			return errors.Join(err, wait(0, "send the requests of the batch one by one"))
		}
		err := update("CCE refused the removal", func(b *removal.Batch, recs map[string]*removal.Record) {
			if len(culprits) > 0 {
				b.Resolve(recs, culprits, w.now())
			}
			b.FailAll(recs, reason, w.now())
		})
		w.kick(ctx, b.ProjectID, b.ClusterID)
		return errors.Join(err, giveUp("CCE refused the removal: %s", reason))

	default:
		err := update("RemoveNode failed; back to waiting", func(b *removal.Batch, recs map[string]*removal.Record) {
			b.Dissolve(recs, callErr.Error())
		})
		log.Warn().Err(callErr).Msg("RemoveNode failed; will retry")
		return errors.Join(fmt.Errorf("remove nodes: %w", callErr), err)
	}
}

// uncount takes back the attempt a throttled call was counted as.
func uncount(b *removal.Batch, recs map[string]*removal.Record) {
	b.Attempt--
	for _, m := range b.Members {
		if r := recs[m.RequestID]; r != nil && r.Attempts > 0 {
			r.Attempts--
		}
	}
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
		if d, err := w.reads.take(ctx); err != nil || d > 0 {
			return out // out of read budget: what was found so far
		}
		node, err := w.cce.ShowNode(ctx, b.ProjectID, b.ClusterID, uid)
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
