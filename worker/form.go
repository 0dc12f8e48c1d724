package worker

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/noderemover/noderemover/internal/ratelimit"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
)

// formTries bounds how often forming starts over because a request it
// picked changed (cancelled, or taken by another batch) before it was
// written.
const formTries = 5

// formAndSend forms the next batch of request rec's cluster from its
// waiting requests (f, read with the cluster's forming lease held) and
// sends it, in this order: pick the members (no Redis); once some would go,
// the guardrails (pause, windows, what CCE shows of the cluster and its
// nodes: guard.go) and pick again admitted to the cluster's budget (over it:
// wait; under the minimum: refused); take the call's write slot (outside any
// transaction); write the batch marked sending with the admissions (nothing
// is written if what was picked from changed: then read and pick again,
// keeping the slot); call. A slot no call follows is given back.
func (w *Server) formAndSend(ctx context.Context, rec *removal.Record, f *store.Forming) (err error) {
	var slot *ratelimit.Slot
	var slotRegion string // whose limit the slot is of
	defer func() {
		if f.Token != "" { // no batch took the lease over
			if rerr := w.batches.ReleaseForming(context.WithoutCancel(ctx), f); rerr != nil {
				w.log.Warn().Err(rerr).Str("cluster_id", f.Cluster).Msg("release cluster lease")
			}
		}
		slot.Return(context.WithoutCancel(ctx)) // nil once a call used it
	}()
	var adm *removal.Admission // what CCE showed before this call, once something would go
	for range formTries {
		now := w.now()
		o := w.formOptions()
		if adm != nil {
			o.Admission = &removal.Admission{ClusterID: adm.ClusterID, Guard: adm.Guard, Nodes: adm.Nodes, Use: f.Disruption}
		}
		pick := removal.PickMembers(f.IDs, f.Records, o, now)
		if pick.Wait > 0 {
			return waitFor(pick.Wait, "cluster %s: batch window open", f.Cluster)
		}
		if len(pick.Members) > 0 && adm == nil { // the guardrails, before anything is sent
			if err := w.holdForPause(ctx, f.Cluster, f.Paused, queuedIDs(f)); err != nil { // read with the waiting requests
				return err
			}
			g := w.guardOf(f.Settings)
			if err := w.windowHold(ctx, g, f.Cluster, queuedIDs(f)...); err != nil {
				return err
			}
			a, refused, err := w.preflight(ctx, f, pick.Members[0].Region, g, rec.RequestID)
			if err != nil {
				return err
			}
			if !refused {
				adm = a
			} else if err := w.batches.ReadWaiting(ctx, f); err != nil {
				return err
			}
			continue // pick again, admitted to the budget
		}
		if len(pick.Refused) > 0 {
			for _, h := range pick.Refused {
				w.abandon(ctx, h.Record.RequestID, h.Why, "refused: under the cluster's minimum")
				if h.Record.RequestID == rec.RequestID {
					return giveUp("request %s: refused: %s", rec.RequestID, h.Why)
				}
			}
			if err := w.batches.ReadWaiting(ctx, f); err != nil {
				return err
			}
			continue
		}
		for _, h := range pick.Held {
			if h.Record.Waiting != h.Why {
				if err := w.pauses.Hold(ctx, h.Why, h.Record.RequestID); err != nil {
					w.log.Warn().Err(err).Str("request_id", h.Record.RequestID).Msg("could not note why the request waits")
				}
			}
		}
		if len(pick.Members) == 0 && len(pick.Held) > 0 {
			return waitFor(w.cfg.GuardRecheck, "cluster %s: %s", f.Cluster, pick.Held[0].Why)
		}
		if o.Admission != nil {
			f.Admit = o.Admission.Added()
		}
		if len(pick.Members) > 0 && slot != nil && slotRegion != pick.Members[0].Region {
			slot.Return(context.WithoutCancel(ctx)) // picked again, of another region: its limit's slot
			slot = nil
		}
		if len(pick.Members) > 0 && slot == nil {
			var d time.Duration
			slotRegion = pick.Members[0].Region
			if slot, d, err = w.limitsOf(slotRegion, f.Project).writes.Take(ctx, inlineWait); err != nil {
				return err
			}
			if d > 0 {
				return wait(d, "cluster %s: RemoveNode rate limit", f.Cluster)
			}
			now = w.now()
		}
		b, changes := removal.NewBatch(uuid.NewString(), f.Project, f.Cluster, pick, now)
		if b != nil {
			if _, err := removal.Step(b, b, b.Records(pick.Members), removal.EventSend, w.sendInput(now)); err != nil {
				return err
			}
		}
		if pick.Empty() {
			return errLookAgain // nothing waits here: the request was taken by a batch meanwhile
		}
		err = w.batches.Form(ctx, f, b, changes, pick.Stale, w.formingLease(f.Project, f.Cluster))
		if errors.Is(err, removal.ErrStale) {
			if err = w.batches.ReadWaiting(ctx, f); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		for _, c := range changes {
			why := "sending RemoveNode"
			if c.Record.State.Final() {
				why = "attempts used up"
			}
			w.recordChange(b, &c, why)
		}
		w.releaseNodes(ctx, changes)
		if b == nil {
			return errLookAgain // only stale entries and requests out of attempts
		}
		slot = nil // the call uses it
		if err := w.call(ctx, b, false); err != nil {
			return err
		}
		if !b.Has(rec.RequestID) {
			return errLookAgain // the batch went without it (another login, or no room)
		}
		return nil
	}
	return wait(0, "cluster %s: its waiting requests keep changing", f.Cluster)
}

// formOptions say how this worker forms batches.
func (w *Server) formOptions() removal.FormOptions {
	return removal.FormOptions{Merge: w.cfg.BatchWindow > 0, Window: w.cfg.BatchWindow, MaxAttempts: w.cfg.SubmitMaxAttempts}
}

// queuedIDs are the cluster's requests that wait for a batch: a pause or a
// closed window holds them all, not only those the next batch would take.
func queuedIDs(f *store.Forming) []string {
	var ids []string
	for _, id := range f.IDs {
		if r := f.Records[id]; r != nil && r.State == removal.StateQueued && !r.NeedsDrain() {
			ids = append(ids, id)
		}
	}
	return ids
}
