package store

import (
	"context"

	"github.com/noderemover/noderemover/removal"
)

// Cancel ends a request that has not reached CCE (removal.Cancel says
// when that is): its record says cancelled, its nodes leave its batch and
// are free again. Cancelling a cancelled request changes nothing (the
// change is nil). Otherwise the error is a *removal.NotCancellableError.
func (s *Store) Cancel(ctx context.Context, id string) (*removal.Record, *removal.Change, error) {
	var rec *removal.Record
	var change *removal.Change
	err := again("cancel request "+id, func() (err error) {
		rec, change, err = s.cancel(ctx, id)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return rec, change, nil
}

func (s *Store) cancel(ctx context.Context, id string) (*removal.Record, *removal.Change, error) {
	key := requestKey(id)
	var r removal.Record
	if err := s.getJSON(ctx, key, &r); err != nil {
		return nil, nil, err
	}
	batchID := r.BatchID
	keys := []string{key}
	if batchID != "" {
		keys = append(keys, batchKey(batchID))
	}
	// Read the record again with its batch, so that the two agree.
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, nil, err
	}
	r = removal.Record{}
	if ok, err := decode(vals[0], key, &r); err != nil || !ok {
		if err == nil {
			err = removal.ErrNotFound
		}
		return nil, nil, err
	}
	if r.BatchID != batchID {
		return nil, nil, errStalePlan // it joined (or left) a batch in between
	}
	var b *removal.Batch
	rawBatch := ""
	if len(keys) > 1 {
		b = &removal.Batch{}
		ok, err := decode(vals[1], keys[1], b)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			b = nil
		} else {
			rawBatch = vals[1].(string)
		}
	}
	from, before := r.State, r.Shape()
	changed, err := removal.Cancel(&r, b, s.now())
	if err != nil || !changed {
		return &r, nil, err
	}
	p := newPlan()
	p.holds(key, vals[0].(string))
	if b != nil {
		p.holds(batchKey(b.ID), rawBatch)
	}
	if _, err := s.putRecord(p, before, &r); err != nil {
		return nil, nil, err
	}
	moved(p, &r, from)
	if b != nil {
		if _, err := s.putBatch(p, b); err != nil {
			return nil, nil, err
		}
		if b.State == removal.BatchDone {
			p.delIf(leaseKey(b.ProjectID, b.ClusterID), b.ID)
		}
		s.snaps.drop(b.ID)
	}
	if _, err := p.run(ctx, s.rdb); err != nil {
		return nil, nil, err
	}
	return &r, &removal.Change{Record: &r, From: from}, nil
}
