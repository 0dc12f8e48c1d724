package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/noderemover/noderemover/removal"
)

// Result is what a step of a batch left behind.
type Result struct {
	// Batch is the batch as written; after removal.ErrStale, as it is now.
	Batch *removal.Batch
	// Changes are the records whose state the step changed.
	Changes []removal.Change
	// Next is, when the batch ended and gave back its cluster, the request
	// that has waited longest for the cluster ("" if none).
	Next string
}

// Step moves batch seen (as the caller saw it) on by event ev through the
// lifecycle table, reading the batch and its records as they are now, and
// writes what the step decided in one plan. removal.ErrStale (with the
// batch as it is now in the Result) means another run moved it on; a batch
// that is gone (expired) is removal.ErrNotFound.
func (s *Store) Step(ctx context.Context, seen *removal.Batch, ev removal.Event, in removal.Input) (Result, error) {
	return s.step(ctx, seen, ev, in, 0)
}

// EndJob is Step with removal.EventJobEnded that also remembers how long the
// job took (when took > 0), for the first poll of the cluster's next jobs.
func (s *Store) EndJob(ctx context.Context, seen *removal.Batch, in removal.Input, took time.Duration) (Result, error) {
	return s.step(ctx, seen, removal.EventJobEnded, in, took)
}

func (s *Store) step(ctx context.Context, seen *removal.Batch, ev removal.Event, in removal.Input, took time.Duration) (Result, error) {
	fresh := false // the first try may start from what this process last wrote
	for range planTries {
		cur, err := s.current(ctx, seen, fresh)
		if err != nil {
			return Result{}, fmt.Errorf("%s batch %s: %w", ev, seen.ID, err)
		}
		res, err := s.stepFrom(ctx, cur, seen, ev, in, took)
		switch {
		case errors.Is(err, removal.ErrStale) && !fresh:
			fresh = true // the guard failed on what this process remembered: make sure
		case errors.Is(err, errStalePlan):
			fresh = true
			s.snaps.drop(seen.ID)
		case err != nil:
			return res, fmt.Errorf("%s batch %s: %w", ev, seen.ID, err)
		default:
			return res, nil
		}
	}
	return Result{}, fmt.Errorf("%s batch %s: gave up after %d tries: its keys keep changing", ev, seen.ID, planTries)
}

// stepFrom makes the step from cur and writes it.
func (s *Store) stepFrom(ctx context.Context, cur *current, seen *removal.Batch, ev removal.Event, in removal.Input, took time.Duration) (Result, error) {
	b := cur.batch
	before := make(map[string]removal.Shape, len(cur.recs))
	for id, r := range cur.recs {
		before[id] = r.Shape()
	}
	changes, err := removal.Step(b, seen, cur.recs, ev, in)
	if err != nil {
		return Result{Batch: b}, err
	}
	p := newPlan()
	p.holds(batchKey(b.ID), cur.rawBatch)
	ids := cur.memberIDs
	for _, id := range ids {
		p.holds(requestKey(id), cur.raws[id])
	}
	next := newSnapshot(b)
	for _, id := range ids {
		r := cur.recs[id]
		if r == nil {
			continue // expired: nothing to write
		}
		raw, err := json.Marshal(r)
		if err != nil {
			return Result{}, fmt.Errorf("encode request %s: %w", id, err)
		}
		if string(raw) != cur.raws[id] {
			p.set(requestKey(id), string(raw), s.ttl)
			if err := s.putEvents(p, before[id], r); err != nil {
				return Result{}, err
			}
			moved(p, r, before[id].State)
		}
		next.add(r, string(raw))
	}
	if next.rawBatch, err = s.putBatch(p, b); err != nil {
		return Result{}, err
	}
	ended := b.State == removal.BatchDone
	if ended {
		p.delIf(leaseKey(b.ProjectID, b.ClusterID), b.ID)
		p.first(waitingKey(b.ProjectID, b.ClusterID))
	}
	if took > 0 {
		for _, k := range []string{jobTimesKey(b.ProjectID, b.ClusterID), jobTimesAllKey} {
			p.lpushCapped(k, fmt.Sprint(took.Milliseconds()), jobTimesKept, jobTimesTTL)
		}
	}
	first, err := p.run(ctx, s.rdb)
	if err != nil {
		return Result{}, err
	}
	if ended {
		s.snaps.drop(b.ID)
	} else {
		s.snaps.keep(b.ID, next)
	}
	return Result{Batch: b, Changes: changes, Next: first}, nil
}

// current is a batch and its member records as read (or remembered), with
// the bytes each was read as, for the plan's checks.
type current struct {
	batch     *removal.Batch
	rawBatch  string
	memberIDs []string
	recs      map[string]*removal.Record
	raws      map[string]string // "" for a member whose record is missing
}

// current reads batch seen.ID and its member records: from what this
// process last wrote when it remembers the batch (and fresh is false),
// otherwise from Redis, reading the records of seen's members with the
// batch and, if its members are others, again.
func (s *Store) current(ctx context.Context, seen *removal.Batch, fresh bool) (*current, error) {
	if !fresh {
		if snap := s.snaps.get(seen.ID); snap != nil {
			return snap.current(), nil
		}
	}
	hint := seen.RequestIDs()
	for range 3 {
		vals, err := s.rdb.MGet(ctx, append([]string{batchKey(seen.ID)}, keysOf(requestKey, hint)...)...).Result()
		if err != nil {
			return nil, err
		}
		var b removal.Batch
		ok, err := decode(vals[0], batchKey(seen.ID), &b)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, removal.ErrNotFound
		}
		members := b.RequestIDs()
		if !subset(members, hint) {
			hint = members
			continue
		}
		c := &current{batch: &b, rawBatch: vals[0].(string), memberIDs: members,
			recs: map[string]*removal.Record{}, raws: map[string]string{}}
		for i, id := range hint {
			if !slices.Contains(members, id) {
				continue
			}
			var r removal.Record
			ok, err := decode(vals[i+1], requestKey(id), &r)
			if err != nil {
				return nil, err
			}
			if ok {
				c.recs[id], c.raws[id] = &r, vals[i+1].(string)
			}
		}
		return c, nil
	}
	return nil, fmt.Errorf("the members of batch %s keep changing", seen.ID)
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// snapshot is what this process last wrote for a batch and its member
// records: the values, and the exact JSON of each. The next step of that
// batch starts from it, without a read, and the plan's checks (on the
// JSON) catch anyone who wrote since.
type snapshot struct {
	batch    *removal.Batch
	rawBatch string
	recs     map[string]*removal.Record
	raws     map[string]string
}

func newSnapshot(b *removal.Batch) *snapshot {
	return &snapshot{batch: b.Clone(), recs: map[string]*removal.Record{}, raws: map[string]string{}}
}

// add remembers member record r, written as raw.
func (s *snapshot) add(r *removal.Record, raw string) {
	s.recs[r.RequestID], s.raws[r.RequestID] = r.Clone(), raw
}

// current is a copy of the snapshot to step from.
func (s *snapshot) current() *current {
	c := &current{batch: s.batch.Clone(), rawBatch: s.rawBatch, memberIDs: s.batch.RequestIDs(),
		recs: make(map[string]*removal.Record, len(s.recs)), raws: make(map[string]string, len(s.raws))}
	for _, id := range c.memberIDs {
		if r := s.recs[id]; r != nil {
			c.recs[id], c.raws[id] = r.Clone(), s.raws[id]
		}
	}
	return c
}

// snapCache keeps the latest snapshot of recent batches in this process.
// Bounded; an evicted or stale entry only costs a read.
type snapCache struct {
	mu    sync.Mutex
	m     map[string]*snapshot
	order []string // insertion order, for eviction
}

// snapCacheSize bounds the batches remembered (a few MiB at most).
const snapCacheSize = 4096

func newSnapCache() *snapCache { return &snapCache{m: make(map[string]*snapshot)} }

func (c *snapCache) get(id string) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

func (c *snapCache) keep(id string, s *snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; !ok {
		c.order = append(c.order, id)
	}
	c.m[id] = s
	for len(c.m) > snapCacheSize && len(c.order) > 0 {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	if len(c.order) > 2*len(c.m)+64 { // ids of batches dropped since
		kept := c.order[:0]
		for _, k := range c.order {
			if _, ok := c.m[k]; ok {
				kept = append(kept, k)
			}
		}
		clear(c.order[len(kept):])
		c.order = kept
	}
}

func (c *snapCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}
