package removal

import (
	"cmp"
	"fmt"
	"time"
)

// Forming a batch: which of a cluster's waiting requests go together in its
// next RemoveNode call. Pick decides it from the records alone; the store
// writes what it picked, and the worker takes the call's rate-limit slot in
// between, outside any transaction.

// FormOptions say how a cluster's next batch is picked.
type FormOptions struct {
	// Merge puts the waiting requests that share the oldest one's login into
	// one batch; without it each batch is one request.
	Merge bool
	// Window is how long after the oldest waiting request arrived the batch
	// waits for more, unless MaxNodes are waiting already.
	Window time.Duration
	// MaxNodes bounds the nodes of a batch (default and at most MaxNodes).
	MaxNodes int
	// MaxAttempts: a request that used this many RemoveNode calls fails
	// instead of joining (0: no bound).
	MaxAttempts int
	// Admission, when set, admits each member to the cluster's disruption
	// budget (a request drained before was admitted then); one it does not
	// admit waits or is refused.
	Admission *Admission
}

// Held is a waiting request that a guardrail keeps out of the batch, and why.
type Held struct {
	Record *Record
	Why    string
}

// Pick is what forming found among the waiting requests.
type Pick struct {
	// Members join the batch, oldest first.
	Members []*Record
	// Stale are waiting entries of requests that are no longer queued.
	Stale []string
	// OutOfAttempts are requests that fail instead of joining.
	OutOfAttempts []*Record
	// Wait, when above zero, is how long the window stays open: nothing
	// joins yet.
	Wait time.Duration
	// Held wait for room in the cluster's budget (or its minimum);
	// Refused can never go (alone they would break the minimum).
	Held, Refused []Held
}

// Empty reports whether nothing is to be written.
func (p Pick) Empty() bool {
	return len(p.Members) == 0 && len(p.Stale) == 0 && len(p.OutOfAttempts) == 0
}

// PickMembers picks a cluster's next batch from its waiting requests (ids,
// oldest first, and their records; a missing record is stale). It changes
// no record.
func PickMembers(ids []string, recs map[string]*Record, o FormOptions, now time.Time) Pick {
	maxNodes := min(cmp.Or(o.MaxNodes, MaxNodes), MaxNodes)
	var p Pick
	nodes := 0
	for _, id := range ids {
		r := recs[id]
		switch {
		case r == nil || r.State != StateQueued || r.NeedsDrain() || len(r.OpenNodes()) == 0:
			p.Stale = append(p.Stale, id)
		case o.MaxAttempts > 0 && r.Attempts >= o.MaxAttempts:
			p.OutOfAttempts = append(p.OutOfAttempts, r)
		case len(p.Members) > 0 && (!o.Merge || r.Solo || p.Members[0].Solo || r.Login.Key() != p.Members[0].Login.Key() ||
			r.Region != p.Members[0].Region):
			// another login or region, or alone: a later batch
		case nodes+len(r.OpenNodes()) <= maxNodes:
			if o.Admission != nil {
				v := o.Admission.Decide(r.RequestID, r.OpenNodes())
				switch {
				case v.Refuse != "":
					p.Refused = append(p.Refused, Held{r, v.Refuse})
					continue
				case !v.Go:
					p.Held = append(p.Held, Held{r, v.Wait})
					continue
				}
			}
			p.Members = append(p.Members, r)
			nodes += len(r.OpenNodes())
		}
	}
	if len(p.Members) > 0 && o.Merge && !p.Members[0].Solo && nodes < maxNodes {
		if age := now.Sub(p.Members[0].CreatedAt); age < o.Window {
			p.Wait, p.Members = o.Window-age, nil
		}
	}
	return p
}

// NewBatch makes the ready batch of id from picked members, moving each
// member's record to submitting, and fails the requests out of attempts.
// It returns the records whose state changed.
func NewBatch(id, project, cluster string, p Pick, now time.Time) (*Batch, []Change) {
	var changes []Change
	for _, r := range p.OutOfAttempts {
		changes = append(changes, Change{Record: r, From: r.State})
		r.Fail(fmt.Sprintf("gave up after %d RemoveNode calls; last error: %s", r.Attempts, r.Error), now)
		r.UpdatedAt = now
	}
	if len(p.Members) == 0 {
		return nil, changes
	}
	b := &Batch{ID: id, ProjectID: project, ClusterID: cluster, Region: p.Members[0].Region, Login: p.Members[0].Login,
		State: BatchReady, CreatedAt: now, UpdatedAt: now}
	for _, r := range p.Members {
		b.Members = append(b.Members, Member{RequestID: r.RequestID, Nodes: r.OpenNodes()})
		changes = append(changes, Change{Record: r, From: r.State})
		r.State, r.BatchID, r.UpdatedAt, r.Waiting = StateSubmitting, id, now, ""
		if r.SubmittingAt == nil {
			r.SubmittingAt = &now
		}
	}
	return b, changes
}

// Records returns the batch's member records among recs, by request id.
func (b *Batch) Records(recs []*Record) map[string]*Record {
	out := make(map[string]*Record, len(b.Members))
	for _, r := range recs {
		if b.Has(r.RequestID) {
			out[r.RequestID] = r
		}
	}
	return out
}
