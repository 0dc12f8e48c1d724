package removal

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// FormOptions say how FormBatch forms a cluster's next batch.
type FormOptions struct {
	// Merge puts the waiting requests of the cluster that share the oldest
	// one's login into one batch; without it each batch is one request.
	Merge bool
	// Window is how long after the oldest waiting request arrived the batch
	// waits for more, unless MaxNodes are waiting already.
	Window time.Duration
	// MaxNodes bounds the nodes of a batch (default and at most MaxNodes).
	MaxNodes int
	// MaxAttempts: a request that used this many RemoveNode calls fails
	// instead of joining (0: no bound).
	MaxAttempts int
	// LeaseTTL is how long the new batch holds the cluster before its lease
	// must be renewed.
	LeaseTTL time.Duration
	// Token is the lease taken with TakeForming, if any: the cluster counts
	// as free when its lease holds it.
	Token string
	// Gate, when set, is asked last, right before anything is written (the
	// rate limit): a positive wait stops the forming with a *WaitError.
	Gate func(ctx context.Context) (time.Duration, error)
}

// WaitError says the next batch of a cluster cannot be formed yet, and for
// about how long.
type WaitError struct {
	Reason string
	After  time.Duration
}

func (e *WaitError) Error() string { return fmt.Sprintf("%s (wait %v)", e.Reason, e.After) }

// candidates bounds the waiting requests one FormBatch looks at: a batch
// holds at most MaxNodes nodes, so MaxNodes requests.
const candidates = MaxNodes

// FormBatch forms the next batch of a cluster from its waiting requests and
// takes the cluster's lease for it, in one transaction; then, when not nil,
// makes the batch's first transition in the same transaction. It returns
// ErrNothingQueued when no request waits, a *BusyError when another batch
// holds the cluster, and a *WaitError when the batch window is still open
// or the Gate said to wait. Requests out of attempts fail (they are among
// the changes returned, with no batch when no other request was ready).
func (s *Store) FormBatch(ctx context.Context, project, cluster string, o FormOptions, then func(*Batch, map[string]*Record) error) (*Batch, []Change, error) {
	maxNodes := min(cmp.Or(o.MaxNodes, MaxNodes), MaxNodes)
	keys := []string{leaseKey(project, cluster), waitingKey(project, cluster)}
	var b *Batch
	var changes []Change
	var waiting *redis.StringSliceCmd
	err := s.txnWith(ctx, keys, func(p redis.Pipeliner) {
		waiting = p.ZRange(ctx, keys[1], 0, candidates-1)
	}, func(tx *redis.Tx, vals []any) (writes, error) {
		b, changes = nil, nil
		if err := s.checkLease(ctx, tx, project, cluster, vals[0], o.Token); err != nil {
			return nil, err
		}
		ids, err := waiting.Result()
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, ErrNothingQueued
		}
		recs, err := s.watchRecords(ctx, tx, ids)
		if err != nil {
			return nil, err
		}
		now := s.now()
		var stale []string // waiting entries of requests no longer queued
		var members []*Record
		nodes := 0
		for _, id := range ids {
			r := recs[id]
			switch {
			case r == nil || r.State != StateQueued || len(r.OpenNodes()) == 0:
				stale = append(stale, id)
			case o.MaxAttempts > 0 && r.Attempts >= o.MaxAttempts:
				changes = append(changes, Change{Record: r, From: r.State})
				r.Fail(fmt.Sprintf("gave up after %d RemoveNode calls; last error: %s", r.Attempts, r.Error), now)
			case len(members) > 0 && (!o.Merge || r.Solo || members[0].Solo || r.Login.Key() != members[0].Login.Key()):
			case nodes+len(r.OpenNodes()) <= maxNodes:
				members = append(members, r)
				nodes += len(r.OpenNodes())
			}
		}
		if len(members) > 0 && o.Merge && !members[0].Solo && nodes < maxNodes {
			if age := now.Sub(members[0].CreatedAt); age < o.Window {
				return nil, &WaitError{Reason: "batch window open", After: o.Window - age}
			}
		}
		if len(members) > 0 && o.Gate != nil {
			wait, err := o.Gate(ctx)
			if err != nil {
				return nil, err
			}
			if wait > 0 {
				return nil, &WaitError{Reason: "rate limit", After: wait}
			}
		}
		failed := len(changes)
		if len(members) > 0 {
			b = &Batch{ID: uuid.NewString(), ProjectID: project, ClusterID: cluster, Login: members[0].Login,
				State: BatchReady, CreatedAt: now, UpdatedAt: now}
			for _, r := range members {
				b.Members = append(b.Members, Member{RequestID: r.RequestID, Nodes: r.OpenNodes()})
				changes = append(changes, Change{Record: r, From: r.State})
				r.State, r.BatchID, r.UpdatedAt = StateSubmitting, b.ID, now
				if r.SubmittingAt == nil {
					r.SubmittingAt = &now
				}
			}
			if then != nil {
				batchRecs := make(map[string]*Record, len(members))
				for _, r := range members {
					batchRecs[r.RequestID] = r
				}
				if err := then(b, batchRecs); err != nil {
					return nil, err
				}
			}
		}
		if b == nil && failed == 0 && len(stale) == 0 {
			return nil, ErrNothingQueued
		}
		return func(p redis.Pipeliner) error {
			if len(stale) > 0 {
				p.ZRem(ctx, keys[1], toAny(stale)...)
			}
			for _, c := range changes[:failed] {
				c.Record.UpdatedAt = now
				finish(ctx, p, c.Record)
				if _, err := s.putRecord(ctx, p, c.Record); err != nil {
					return err
				}
			}
			if b == nil {
				return nil
			}
			ids := b.RequestIDs()
			p.ZRem(ctx, keys[1], toAny(ids)...)
			p.Set(ctx, keys[0], b.ID, o.LeaseTTL)
			return s.putBatch(ctx, p, b, members)
		}, nil
	})
	if err != nil {
		return nil, changes, fmt.Errorf("form batch for cluster %s: %w", cluster, err)
	}
	if b == nil {
		return nil, changes, fmt.Errorf("form batch for cluster %s: %w", cluster, ErrNothingQueued)
	}
	return b, changes, nil
}

// checkLease fails with a *BusyError when the cluster's lease is held by a
// batch that has not ended. A lease left by a batch that ended (its release
// was lost) does not count.
func (s *Store) checkLease(ctx context.Context, tx *redis.Tx, project, cluster string, holder any, token string) error {
	id, ok := holder.(string)
	if !ok || (token != "" && id == token) {
		return nil
	}
	var b Batch
	err := s.getJSON(ctx, tx, batchKey(id), &b)
	switch {
	case strings.HasPrefix(id, formingPrefix):
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case b.State == BatchDone:
		return nil
	}
	left, err := tx.PTTL(ctx, leaseKey(project, cluster)).Result()
	if err != nil {
		return err
	}
	return &BusyError{ClusterID: cluster, BatchID: id, Left: left}
}

// watchRecords watches the records of ids and reads them, in one round trip.
func (s *Store) watchRecords(ctx context.Context, tx *redis.Tx, ids []string) (map[string]*Record, error) {
	keys := requestKeys(ids)
	var mget *redis.SliceCmd
	if _, err := tx.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, append([]any{"WATCH"}, toAny(keys)...)...)
		mget = p.MGet(ctx, keys...)
		return nil
	}); err != nil {
		return nil, err
	}
	recs := make(map[string]*Record, len(ids))
	for i, v := range mget.Val() {
		var r Record
		ok, err := decodeValue(v, keys[i], &r)
		if err != nil {
			return nil, err
		}
		if ok {
			recs[ids[i]] = &r
		}
	}
	return recs, nil
}

// EnsureWaiting puts a queued request in its cluster's waiting set, in its
// original place, if it is not there.
func (s *Store) EnsureWaiting(ctx context.Context, r *Record) error {
	err := s.rdb.ZAddNX(ctx, waitingKey(r.ProjectID, r.ClusterID),
		redis.Z{Score: float64(r.CreatedAt.UnixMilli()), Member: r.RequestID}).Err()
	if err != nil {
		return fmt.Errorf("put request %s in waiting: %w", r.RequestID, err)
	}
	return nil
}

// OldestWaiting returns the request that has waited longest for a cluster.
func (s *Store) OldestWaiting(ctx context.Context, project, cluster string) (string, bool, error) {
	ids, err := s.rdb.ZRange(ctx, waitingKey(project, cluster), 0, 0).Result()
	if err != nil {
		return "", false, fmt.Errorf("oldest waiting request of cluster %s: %w", cluster, err)
	}
	if len(ids) == 0 {
		return "", false, nil
	}
	return ids[0], true, nil
}
