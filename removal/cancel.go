package removal

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ErrNotCancellable matches every *NotCancellableError.
var ErrNotCancellable = errors.New("request cannot be cancelled")

// NotCancellableError says why a request cannot be cancelled.
type NotCancellableError struct {
	RequestID string
	State     State
	JobID     string
	Reason    string
}

func (e *NotCancellableError) Error() string {
	return fmt.Sprintf("request %s cannot be cancelled: %s", e.RequestID, e.Reason)
}

// Is makes errors.Is(err, ErrNotCancellable) true.
func (e *NotCancellableError) Is(target error) bool { return target == ErrNotCancellable }

// cancelReason is what the nodes of a cancelled request say.
const cancelReason = "cancelled before it was sent to CCE"

// Cancel ends a request that has not reached CCE: queued, or in a batch that
// is not being sent. Its record says cancelled and its nodes are free again.
// Cancelling a cancelled request changes nothing. A request CCE accepted (or
// may be accepting right now), or one already ended, gives a
// *NotCancellableError that says why (and names the job): CCE has no call to
// cancel a removal.
func (s *Store) Cancel(ctx context.Context, id string) (*Record, *Change, error) {
	for range txRetries {
		cur, err := s.Get(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		keys := []string{requestKey(id)}
		if cur.BatchID != "" {
			keys = append(keys, batchKey(cur.BatchID))
		}
		var rec *Record
		var change *Change
		var moved bool
		err = s.txn(ctx, keys, func(_ *redis.Tx, vals []any) (writes, error) {
			rec, change, moved = nil, nil, false
			var r Record
			if ok, err := decodeValue(vals[0], keys[0], &r); err != nil || !ok {
				return nil, cmp.Or(err, ErrNotFound)
			}
			if r.BatchID != cur.BatchID {
				moved = true // it joined a batch since: read again
				return nil, nil
			}
			rec = &r
			var b *Batch
			if len(vals) > 1 {
				b = &Batch{}
				if ok, err := decodeValue(vals[1], keys[1], b); err != nil {
					return nil, err
				} else if !ok {
					b = nil
				}
			}
			if err := cancellable(&r, b); err != nil || r.State == StateCancelled {
				return nil, err
			}
			now := s.now()
			from := r.State
			for i := range r.Nodes {
				r.Nodes[i].Reason = cancelReason
			}
			r.State, r.Error, r.UpdatedAt, r.FinishedAt = StateCancelled, "cancelled", now, &now
			change = &Change{Record: &r, From: from}
			if b != nil {
				b.DropNodes(nodeSet(b, id))
				if len(b.Members) == 0 {
					b.State = BatchDone
				}
				b.UpdatedAt = now
			}
			return func(p redis.Pipeliner) error {
				finish(ctx, p, &r)
				if _, err := s.putRecord(ctx, p, &r); err != nil {
					return err
				}
				if b != nil {
					raw, err := jsonString(b)
					if err != nil {
						return err
					}
					p.Set(ctx, batchKey(b.ID), raw, s.ttl)
				}
				return nil
			}, nil
		})
		if moved {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("cancel request %s: %w", id, err)
		}
		return rec, change, nil
	}
	return nil, nil, fmt.Errorf("cancel request %s: it keeps changing", id)
}

// cancellable says why r (in batch b, if any) cannot be cancelled, or nil.
func cancellable(r *Record, b *Batch) error {
	no := func(reason string) error {
		return &NotCancellableError{RequestID: r.RequestID, State: r.State, JobID: r.JobID, Reason: reason}
	}
	switch {
	case r.State == StateCancelled, r.State == StateQueued:
		return nil
	case r.State.Final():
		return no("it already ended " + string(r.State))
	case r.State == StatePolling || (b != nil && b.State == BatchAccepted):
		job := cmp.Or(r.JobID, b.JobID)
		return no("CCE accepted its removal as job " + job + " and CCE cannot cancel a running removal")
	case b != nil && b.State == BatchSending:
		return no("a RemoveNode call for it is under way and its outcome is not known yet; try again in a few seconds")
	}
	return nil // submitting in a ready batch: not sent
}

// nodeSet is the nodes request id holds in b.
func nodeSet(b *Batch, id string) map[string]bool {
	out := map[string]bool{}
	for _, m := range b.Members {
		if m.RequestID == id {
			for _, n := range m.Nodes {
				out[n] = true
			}
		}
	}
	return out
}
