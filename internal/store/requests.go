package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/removal"
)

// planTries bounds how often a store call makes a new plan because the
// last one was stale (another client wrote in between).
const planTries = 100

// again runs try (one read and one plan) until its plan is not stale, at
// most planTries times, and says what was being done in an error.
func again(what string, try func() error) error {
	for range planTries {
		err := try()
		if !errors.Is(err, errStalePlan) {
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%s: gave up after %d tries: its keys keep changing", what, planTries)
}

// readRecord reads request id's record and the bytes it was read as.
func (s *Store) readRecord(ctx context.Context, id string) (*removal.Record, string, error) {
	key := requestKey(id)
	raw, err := s.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, "", removal.ErrNotFound
	}
	if err != nil {
		return nil, "", err
	}
	var r removal.Record
	if _, err := decode(raw, key, &r); err != nil {
		return nil, "", err
	}
	return &r, raw, nil
}

// Create stores the record of a validated request and claims its nodes, all
// or nothing. Creating a request whose id exists is not an error when it asks
// for the same thing: the existing record comes back with created false.
// A node claimed by another unfinished request fails the call with a
// *removal.NodeBusyError; an id taken by a different request with
// removal.ErrConflict.
func (s *Store) Create(ctx context.Context, req removal.Request) (rec *removal.Record, created bool, err error) {
	if err := req.Validate(); err != nil {
		return nil, false, err
	}
	// Most requests are new and their nodes unclaimed: try that in one
	// round trip, and read first only when it is not so.
	rec, err = s.createNew(ctx, req)
	if err == nil {
		return rec, true, nil
	}
	if !errors.Is(err, errStalePlan) {
		return nil, false, fmt.Errorf("create request %s: %w", req.ID, err)
	}
	err = again("create request "+req.ID, func() (err error) {
		rec, created, err = s.create(ctx, req)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return rec, created, nil
}

// createNew creates req provided its id and its nodes' claims are all
// unused; errStalePlan when they are not.
func (s *Store) createNew(ctx context.Context, req removal.Request) (*removal.Record, error) {
	claims := claimKeys(req)
	owners := make([]string, len(claims)) // none
	rec, p, err := s.createPlan(req, claims, owners)
	if err != nil {
		return nil, err
	}
	if _, err := p.run(ctx, s.rdb); err != nil {
		return nil, err
	}
	return rec, nil
}

func claimKeys(req removal.Request) []string {
	claims := make([]string, len(req.Nodes))
	for i, uid := range req.Nodes {
		claims[i] = claimKey(req.ProjectID, req.ClusterID, uid)
	}
	return claims
}

// createPlan is the plan that creates req's record, provided its id is
// unused and its nodes' claims still hold owners ("" for none).
func (s *Store) createPlan(req removal.Request, claims, owners []string) (*removal.Record, *plan, error) {
	now := s.now()
	rec := removal.NewRecord(req, now)
	p := newPlan()
	p.holds(requestKey(req.ID), "")
	for i, k := range claims {
		p.holds(k, owners[i])
	}
	for _, k := range claims {
		p.set(k, req.ID, s.ttl)
	}
	score := now.UnixMilli()
	p.zadd(indexKey, score, req.ID)
	p.zadd(openKey, score, req.ID)
	if !rec.NeedsDrain() { // a request that drains waits for a batch once drained
		p.zadd(waitingKey(req.ProjectID, req.ClusterID), score, req.ID)
	}
	if _, err := s.putRecord(p, removal.Shape{}, rec); err != nil {
		return nil, nil, err
	}
	return rec, p, nil
}

func (s *Store) create(ctx context.Context, req removal.Request) (*removal.Record, bool, error) {
	claims := claimKeys(req)
	vals, err := s.rdb.MGet(ctx, append([]string{requestKey(req.ID)}, claims...)...).Result()
	if err != nil {
		return nil, false, err
	}
	var existing removal.Record
	if ok, err := decode(vals[0], requestKey(req.ID), &existing); err != nil || ok {
		if err == nil && existing.Fingerprint != req.Fingerprint() {
			err = fmt.Errorf("%w: %s", removal.ErrConflict, req.ID)
		}
		return &existing, false, err
	}
	owners := make([]string, len(claims))
	for i, v := range vals[1:] {
		owners[i], _ = v.(string)
	}
	if err := s.checkClaims(ctx, req, owners); err != nil {
		return nil, false, err
	}
	rec, p, err := s.createPlan(req, claims, owners)
	if err != nil {
		return nil, false, err
	}
	if _, err := p.run(ctx, s.rdb); err != nil {
		return nil, false, err
	}
	return rec, true, nil
}

// checkClaims fails when a node of req is claimed (owners, read from its
// claim keys) by another request that is not final. Claims of final,
// expired or unreadable requests are stale and ignored.
func (s *Store) checkClaims(ctx context.Context, req removal.Request, owners []string) error {
	var ids []string
	for _, id := range owners {
		if id != "" && id != req.ID {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	recs, _, err := s.readRecords(ctx, ids)
	if err != nil {
		return err
	}
	for i, id := range owners {
		if r := recs[id]; r != nil && !r.State.Final() {
			return &removal.NodeBusyError{Node: req.Nodes[i], RequestID: id, State: r.State}
		}
	}
	return nil
}

// Discard undoes a Create whose task could not be enqueued: the record and
// its claims go, provided the request is still queued and untouched.
func (s *Store) Discard(ctx context.Context, id string) error {
	return again("discard request "+id, func() error { return s.discard(ctx, id) })
}

func (s *Store) discard(ctx context.Context, id string) error {
	r, raw, err := s.readRecord(ctx, id)
	if err != nil {
		return err
	}
	key := requestKey(id)
	if r.State != removal.StateQueued || r.Attempts > 0 || r.BatchID != "" {
		return fmt.Errorf("request is %s, no longer discardable", r.State)
	}
	p := newPlan()
	p.holds(key, raw)
	p.del(key)
	p.zrem(indexKey, id)
	p.zrem(openKey, id)
	p.zrem(waitingKey(r.ProjectID, r.ClusterID), id)
	for _, n := range r.Nodes {
		p.delIf(claimKey(r.ProjectID, r.ClusterID, n.UID), id)
	}
	ev, err := removal.DiscardEvent(r, s.now())
	if err != nil {
		return err
	}
	raw2, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	p.xadd(eventsKey, s.eventsMaxLen, id, ClusterOf(r.ProjectID, r.ClusterID), "", string(raw2))
	_, err = p.run(ctx, s.rdb)
	return err
}

// Abandon fails an open request for reason (its task will not run again,
// or its batch is lost) and frees its nodes. The change is nil when the
// request was final already.
func (s *Store) Abandon(ctx context.Context, id, reason string) (*removal.Record, *removal.Change, error) {
	return s.update(ctx, "abandon request "+id, id, func(r *removal.Record) (bool, error) {
		return removal.Abandon(r, reason, s.now()), nil
	})
}

// update reads request id fresh, lets apply change it (false: nothing to
// write) and writes it in one plan, with the moves of its change of state
// (moved), reading and applying again while the plan goes stale. The change
// is nil when the state stayed.
func (s *Store) update(ctx context.Context, what, id string, apply func(*removal.Record) (bool, error)) (*removal.Record, *removal.Change, error) {
	var rec *removal.Record
	var change *removal.Change
	err := again(what, func() error {
		r, raw, err := s.readRecord(ctx, id)
		if err != nil {
			return err
		}
		from, before := r.State, r.Shape()
		rec, change = r, nil
		if ok, err := apply(r); err != nil || !ok {
			return err
		}
		p := newPlan()
		p.holds(requestKey(id), raw)
		if _, err := s.putRecord(p, before, r); err != nil {
			return err
		}
		moved(p, r, from)
		if _, err := p.run(ctx, s.rdb); err != nil {
			return err
		}
		if r.State != from {
			change = &removal.Change{Record: r, From: from}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return rec, change, nil
}

// ensureWaiting puts a queued request in its cluster's waiting set, in its
// original place, if it is not there.
func (s *Store) ensureWaiting(ctx context.Context, r *removal.Record) error {
	err := s.rdb.ZAddNX(ctx, waitingKey(r.ProjectID, r.ClusterID),
		redis.Z{Score: float64(r.CreatedAt.UnixMilli()), Member: r.RequestID}).Err()
	if err != nil {
		return fmt.Errorf("put request %s in waiting: %w", r.RequestID, err)
	}
	return nil
}
