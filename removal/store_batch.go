package removal

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// ErrNothingQueued: none of the requests given to StartBatch was still queued.
var ErrNothingQueued = errors.New("no queued request to start")

// StartBatch forms a batch from the queued requests among ids (all of one
// project, cluster and login) and moves them to submitting, in one
// transaction. Requests no longer queued are left out; when none is left the
// error is ErrNothingQueued.
func (s *Store) StartBatch(ctx context.Context, ids []string) (*Batch, []Change, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = requestKey(id)
	}
	var b *Batch
	var changes []Change
	err := s.watch(ctx, func(tx *redis.Tx) error {
		b, changes = nil, nil
		recs, err := s.getRecords(ctx, tx, ids)
		if err != nil {
			return err
		}
		now := s.now()
		for _, id := range ids {
			r := recs[id]
			if r == nil || r.State != StateQueued || len(r.OpenNodes()) == 0 {
				continue
			}
			if b == nil {
				b = &Batch{ID: uuid.NewString(), ProjectID: r.ProjectID, ClusterID: r.ClusterID, Login: r.Login,
					State: BatchReady, CreatedAt: now, UpdatedAt: now}
			}
			if r.ProjectID != b.ProjectID || r.ClusterID != b.ClusterID || r.Login.Key() != b.Login.Key() {
				return fmt.Errorf("request %s does not share project, cluster and login with the batch", id)
			}
			b.Members = append(b.Members, Member{RequestID: id, Nodes: r.OpenNodes()})
			changes = append(changes, Change{Record: r, From: r.State})
			r.State, r.BatchID, r.UpdatedAt = StateSubmitting, b.ID, now
		}
		if b == nil {
			return ErrNothingQueued
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range changes {
				if err := s.putRecord(ctx, p, c.Record); err != nil {
					return err
				}
			}
			return s.putBatch(ctx, p, b)
		})
		return err
	}, keys...)
	if err != nil {
		return nil, nil, fmt.Errorf("start batch: %w", err)
	}
	return b, changes, nil
}

// UpdateBatch changes a batch and its member records in one transaction: fn
// edits them, or returns an error and nothing is written. It returns the
// batch as written and the records whose state changed; nodes of records
// that became final are released.
func (s *Store) UpdateBatch(ctx context.Context, id string, fn func(*Batch, map[string]*Record) error) (*Batch, []Change, error) {
	var b *Batch
	var changes []Change
	err := s.watch(ctx, func(tx *redis.Tx) error {
		b, changes = nil, nil
		var cur Batch
		if err := s.getJSON(ctx, tx, batchKey(id), &cur); err != nil {
			return err
		}
		ids := cur.RequestIDs()
		keys := make([]string, len(ids))
		for i, rid := range ids {
			keys[i] = requestKey(rid)
		}
		if len(keys) > 0 {
			if err := tx.Watch(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		recs, err := s.getRecords(ctx, tx, ids)
		if err != nil {
			return err
		}
		before := make(map[string]State, len(recs))
		for rid, r := range recs {
			before[rid] = r.State
		}
		if err := fn(&cur, recs); err != nil {
			return err
		}
		now := s.now()
		cur.UpdatedAt = now
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, rid := range ids {
				r := recs[rid]
				if r == nil {
					continue
				}
				r.UpdatedAt = now
				if err := s.putRecord(ctx, p, r); err != nil {
					return err
				}
			}
			return s.putBatch(ctx, p, &cur)
		})
		if err != nil {
			return err
		}
		b = &cur
		for _, rid := range ids {
			if r := recs[rid]; r != nil && r.State != before[rid] {
				changes = append(changes, Change{Record: r, From: before[rid]})
			}
		}
		return nil
	}, batchKey(id))
	if err != nil {
		return nil, nil, fmt.Errorf("update batch %s: %w", id, err)
	}
	_ = s.releaseClaims(ctx, changes)
	return b, changes, nil
}
