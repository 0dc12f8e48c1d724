package store

import (
	"context"

	"github.com/noderemover/noderemover/removal"
)

// DrainStep carries request id's drain on by what a worker's pass over
// Kubernetes found (removal.DrainStep decides), read fresh and written in
// one plan: a request drained moves to its cluster's waiting set, one that
// failed frees its nodes. It returns the record as written and its change
// of state, if any; an error wrapping removal.ErrStale when the request is
// not draining any more (cancelled, say).
func (s *Store) DrainStep(ctx context.Context, id string, results map[string]removal.NodeDrainResult) (*removal.Record, *removal.Change, error) {
	var rec *removal.Record
	var change *removal.Change
	err := again("drain step of request "+id, func() error {
		r, raw, err := s.readRecord(ctx, id)
		if err != nil {
			return err
		}
		from := r.State
		if change, err = removal.DrainStep(r, results, s.now()); err != nil {
			return err
		}
		p := newPlan()
		p.holds(requestKey(id), raw)
		if _, err := s.putRecord(p, r); err != nil {
			return err
		}
		moved(p, r, from)
		if _, err := p.run(ctx, s.rdb); err != nil {
			return err
		}
		rec = r
		return nil
	})
	return rec, change, err
}

// Uncordoned takes the Kubernetes Nodes names off request id's list of
// Nodes to uncordon, once the worker made them schedulable again.
func (s *Store) Uncordoned(ctx context.Context, id string, names []string) (*removal.Record, error) {
	var rec *removal.Record
	err := again("uncordoned nodes of request "+id, func() error {
		r, raw, err := s.readRecord(ctx, id)
		if err != nil {
			return err
		}
		rec = r
		if !removal.Uncordoned(r, names, s.now()) {
			return nil
		}
		p := newPlan()
		p.holds(requestKey(id), raw)
		if _, err := s.putRecord(p, r); err != nil {
			return err
		}
		_, err = p.run(ctx, s.rdb)
		return err
	})
	return rec, err
}
