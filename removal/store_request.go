package removal

import (
	"cmp"
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Create stores the record of a validated request and claims its nodes, all
// or nothing. Creating a request whose id exists is not an error when it asks
// for the same thing: the existing record comes back with created false.
// A node claimed by another unfinished request fails the call with a
// *NodeBusyError; an id taken by a different request with ErrConflict.
func (s *Store) Create(ctx context.Context, req Request) (rec *Record, created bool, err error) {
	if err := req.Validate(); err != nil {
		return nil, false, err
	}
	claims := make([]string, len(req.Nodes))
	for i, uid := range req.Nodes {
		claims[i] = claimKey(req.ProjectID, req.ClusterID, uid)
	}
	keys := append([]string{requestKey(req.ID)}, claims...)
	err = s.txn(ctx, keys, func(tx *redis.Tx, vals []any) (writes, error) {
		rec, created = nil, false
		var existing Record
		if ok, err := decodeValue(vals[0], keys[0], &existing); err != nil || ok {
			if err == nil && existing.Fingerprint != req.Fingerprint() {
				err = fmt.Errorf("%w: %s", ErrConflict, req.ID)
			}
			rec = &existing
			return nil, err
		}
		if err := s.checkClaims(ctx, tx, req, vals[1:]); err != nil {
			return nil, err
		}
		now := s.now()
		rec, created = newRecord(req, now), true
		return func(p redis.Pipeliner) error {
			for _, k := range claims {
				p.Set(ctx, k, req.ID, s.ttl)
			}
			p.ZAdd(ctx, indexKey, redis.Z{Score: float64(now.UnixMilli()), Member: req.ID})
			p.ZAdd(ctx, openKey, redis.Z{Score: float64(now.UnixMilli()), Member: req.ID})
			p.ZAdd(ctx, waitingKey(req.ProjectID, req.ClusterID), redis.Z{Score: float64(now.UnixMilli()), Member: req.ID})
			p.ZRemRangeByScore(ctx, indexKey, "-inf", fmt.Sprint(now.Add(-s.ttl).UnixMilli()))
			_, err := s.putRecord(ctx, p, rec)
			return err
		}, nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("create request %s: %w", req.ID, err)
	}
	return rec, created, nil
}

// checkClaims fails when a node of req is claimed (owners, read from its
// claim keys) by another request that is not final. Claims of final or
// expired requests are stale and ignored.
func (s *Store) checkClaims(ctx context.Context, tx *redis.Tx, req Request, owners []any) error {
	var ids []string
	for _, o := range owners {
		if id, ok := o.(string); ok && id != req.ID {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	recs, err := s.getRecords(ctx, tx, ids)
	if err != nil {
		return err
	}
	for i, o := range owners {
		id, _ := o.(string)
		if r := recs[id]; r != nil && !r.State.Final() {
			return &NodeBusyError{Node: req.Nodes[i], RequestID: id, State: r.State}
		}
	}
	return nil
}

// Discard undoes a Create whose task could not be enqueued: the record and
// its claims go, provided the request is still queued and untouched.
func (s *Store) Discard(ctx context.Context, id string) error {
	key := requestKey(id)
	err := s.txn(ctx, []string{key}, func(_ *redis.Tx, vals []any) (writes, error) {
		var r Record
		if ok, err := decodeValue(vals[0], key, &r); err != nil || !ok {
			return nil, cmp.Or(err, ErrNotFound)
		}
		if r.State != StateQueued || r.Attempts > 0 || r.BatchID != "" {
			return nil, fmt.Errorf("request is %s, no longer discardable", r.State)
		}
		return func(p redis.Pipeliner) error {
			p.Del(ctx, key)
			p.ZRem(ctx, indexKey, id)
			p.ZRem(ctx, openKey, id)
			p.ZRem(ctx, waitingKey(r.ProjectID, r.ClusterID), id)
			for _, n := range r.Nodes {
				p.Del(ctx, claimKey(r.ProjectID, r.ClusterID, n.UID))
			}
			return nil
		}, nil
	})
	if err != nil {
		return fmt.Errorf("discard request %s: %w", id, err)
	}
	return nil
}

// Update changes one record in a transaction: fn edits it, or returns an
// error and nothing is written. Nodes of a record that became final are
// released.
func (s *Store) Update(ctx context.Context, id string, fn func(*Record) error) (*Record, *Change, error) {
	var rec *Record
	var change *Change
	key := requestKey(id)
	err := s.txn(ctx, []string{key}, func(_ *redis.Tx, vals []any) (writes, error) {
		rec, change = nil, nil
		var r Record
		if ok, err := decodeValue(vals[0], key, &r); err != nil || !ok {
			return nil, cmp.Or(err, ErrNotFound)
		}
		from := r.State
		if err := fn(&r); err != nil {
			return nil, err
		}
		r.UpdatedAt = s.now()
		rec = &r
		if from != r.State {
			change = &Change{Record: &r, From: from}
		}
		return func(p redis.Pipeliner) error {
			if change != nil {
				finish(ctx, p, &r)
			}
			_, err := s.putRecord(ctx, p, &r)
			return err
		}, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("update request %s: %w", id, err)
	}
	return rec, change, nil
}
