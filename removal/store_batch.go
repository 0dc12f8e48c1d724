package removal

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// ErrNothingQueued: none of the requests given to StartBatch was still queued.
var ErrNothingQueued = errors.New("no queued request to start")

// StartBatch forms a batch from the queued requests among ids (all of one
// project, cluster and login) and moves them to submitting, in one
// transaction. Unlike FormBatch it does not take the cluster's lease: it is
// for tests and tools that build a batch by hand. Requests no longer queued are left out; when none is left the
// error is ErrNothingQueued. then, when not nil, makes the batch's first
// transition in the same transaction (or fails it).
func (s *Store) StartBatch(ctx context.Context, ids []string, then func(*Batch, map[string]*Record) error) (*Batch, []Change, error) {
	keys := requestKeys(ids)
	var b *Batch
	var changes []Change
	err := s.txn(ctx, keys, func(_ *redis.Tx, vals []any) (writes, error) {
		b, changes = nil, nil
		now := s.now()
		for i, id := range ids {
			var r Record
			if ok, err := decodeValue(vals[i], keys[i], &r); err != nil {
				return nil, err
			} else if !ok || r.State != StateQueued || len(r.OpenNodes()) == 0 {
				continue
			}
			if b == nil {
				b = &Batch{ID: uuid.NewString(), ProjectID: r.ProjectID, ClusterID: r.ClusterID, Login: r.Login,
					State: BatchReady, CreatedAt: now, UpdatedAt: now}
			}
			if r.ProjectID != b.ProjectID || r.ClusterID != b.ClusterID || r.Login.Key() != b.Login.Key() {
				return nil, fmt.Errorf("request %s does not share project, cluster and login with the batch", id)
			}
			b.Members = append(b.Members, Member{RequestID: id, Nodes: r.OpenNodes()})
			changes = append(changes, Change{Record: &r, From: r.State})
			r.State, r.BatchID, r.UpdatedAt = StateSubmitting, b.ID, now
			if r.SubmittingAt == nil {
				r.SubmittingAt = &now
			}
		}
		if b == nil {
			return nil, ErrNothingQueued
		}
		if then != nil {
			recs := make(map[string]*Record, len(changes))
			for _, c := range changes {
				recs[c.Record.RequestID] = c.Record
			}
			if err := then(b, recs); err != nil {
				return nil, err
			}
		}
		return func(p redis.Pipeliner) error {
			recs := make([]*Record, len(changes))
			for i, c := range changes {
				recs[i] = c.Record
				p.ZRem(ctx, waitingKey(c.Record.ProjectID, c.Record.ClusterID), c.Record.RequestID)
			}
			return s.putBatch(ctx, p, b, recs)
		}, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start batch: %w", err)
	}
	return b, changes, nil
}

// UpdateBatch changes batch b and its member records in one transaction: fn
// edits them (as they are in Redis, not as b has them), or returns an error
// and nothing is written. It returns the batch as written and the records
// whose state changed; nodes of records that became final are released.
func (s *Store) UpdateBatch(ctx context.Context, b *Batch, fn func(*Batch, map[string]*Record) error) (*Batch, []Change, error) {
	if out, changes, ok := s.updateFromSnapshot(ctx, b, fn); ok {
		return out, changes, nil
	}
	var out *Batch
	var changes []Change
	hint := b.RequestIDs()
	for range txRetries {
		var widen []string
		keys := append([]string{batchKey(b.ID)}, requestKeys(hint)...)
		err := s.txn(ctx, keys, func(_ *redis.Tx, vals []any) (writes, error) {
			out, changes, widen = nil, nil, nil
			var cur Batch
			recs, err := decodeBatchAndRecords(vals, keys, hint, &cur)
			if err != nil {
				return nil, err
			}
			ids := cur.RequestIDs()
			for _, rid := range ids {
				if !slices.Contains(hint, rid) {
					widen = ids // members we did not watch: start again watching them
					return nil, nil
				}
			}
			before := make(map[string]State, len(recs))
			for rid, r := range recs {
				before[rid] = r.State
			}
			if err := fn(&cur, recs); err != nil {
				return nil, err
			}
			now := s.now()
			cur.UpdatedAt = now
			out = &cur
			for _, rid := range ids {
				if r := recs[rid]; r != nil && r.State != before[rid] {
					changes = append(changes, Change{Record: r, From: before[rid]})
				}
			}
			return func(p redis.Pipeliner) error {
				var members []*Record
				for _, rid := range ids {
					r := recs[rid]
					if r == nil {
						continue
					}
					r.UpdatedAt = now
					if r.State != before[rid] {
						finish(ctx, p, r)
						requeue(ctx, p, r)
					}
					members = append(members, r)
				}
				if cur.State == BatchDone {
					releaseLease(ctx, p, &cur)
				}
				return s.putBatch(ctx, p, &cur, members)
			}, nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("update batch %s: %w", b.ID, err)
		}
		if widen == nil {
			return out, changes, nil
		}
		hint = widen
	}
	return nil, nil, fmt.Errorf("update batch %s: its members keep changing", b.ID)
}

// decodeBatchAndRecords decodes a batch and the records of ids from values
// read for keys (the batch's first). Records of ids that are not members of
// the batch, or are missing, are left out.
func decodeBatchAndRecords(vals []any, keys, ids []string, b *Batch) (map[string]*Record, error) {
	if ok, err := decodeValue(vals[0], keys[0], b); err != nil || !ok {
		return nil, cmp.Or(err, ErrNotFound)
	}
	members := b.RequestIDs()
	recs := make(map[string]*Record, len(ids))
	for i, id := range ids {
		var r Record
		ok, err := decodeValue(vals[i+1], keys[i+1], &r)
		if err != nil {
			return nil, err
		}
		if ok && slices.Contains(members, id) {
			recs[id] = &r
		}
	}
	return recs, nil
}

func requestKeys(ids []string) []string {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = requestKey(id)
	}
	return keys
}

// putBatch queues the writes of b and its member records in p and keeps
// what was written in b's snapshot.
func (s *Store) putBatch(ctx context.Context, p redis.Pipeliner, b *Batch, recs []*Record) error {
	snap := &snapshot{}
	for _, r := range recs {
		raw, err := s.putRecord(ctx, p, r)
		if err != nil {
			return err
		}
		snap.add(requestKey(r.RequestID), raw)
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return err
	}
	p.Set(ctx, batchKey(b.ID), raw, s.ttl)
	snap.add(batchKey(b.ID), string(raw))
	b.snap = snap
	s.snaps.keep(b)
	return nil
}

// requeue puts a request that went back to queued into its cluster's
// waiting set, in its original place.
func requeue(ctx context.Context, p redis.Pipeliner, r *Record) {
	if r.State == StateQueued {
		p.ZAdd(ctx, waitingKey(r.ProjectID, r.ClusterID), redis.Z{Score: float64(r.CreatedAt.UnixMilli()), Member: r.RequestID})
	}
}
