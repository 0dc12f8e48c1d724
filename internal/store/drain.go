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
	return s.update(ctx, "drain step of request "+id, id, func(r *removal.Record) (bool, error) {
		_, err := removal.DrainStep(r, results, s.now())
		return err == nil, err
	})
}

// Uncordoned takes the Kubernetes Nodes names off request id's list of
// Nodes to uncordon, once the worker made them schedulable again.
func (s *Store) Uncordoned(ctx context.Context, id string, names []string) (*removal.Record, error) {
	rec, _, err := s.update(ctx, "uncordoned nodes of request "+id, id, func(r *removal.Record) (bool, error) {
		return removal.Uncordoned(r, names, s.now()), nil
	})
	return rec, err
}
