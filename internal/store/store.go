// Package store keeps noderemover's state in Redis: request records, node
// claims, batches, each cluster's waiting requests and lease, the reconcile
// claim, the index and open sets, and how long recent CCE jobs took. It
// decides nothing about a removal's life (package removal does); it reads,
// and it writes what was decided, every write through one plan carried out
// atomically by one script (plan.go). Every key carries the hash tag
// {noderemover}, so on Redis Cluster they share one slot.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/removal"
)

// keyPrefix starts every key of ours; the braces make it the hash tag.
const keyPrefix = "{noderemover}:"

// The keys, and who writes them: the enqueuer creates records, claims and
// the index, open and waiting entries; workers write batches, leases and
// everything that moves a record on; either may end a request (cancel).
func requestKey(id string) string { return keyPrefix + "request:" + id }
func batchKey(id string) string   { return keyPrefix + "batch:" + id }

// claimKey holds the id of the unfinished request that holds a node.
func claimKey(project, cluster, uid string) string {
	return keyPrefix + "node:" + project + ":" + cluster + ":" + uid
}

// waitingKey is a sorted set of the ids of a cluster's queued requests,
// scored by creation time (ms): the requests its next batch is formed from.
func waitingKey(project, cluster string) string {
	return keyPrefix + "waiting:" + project + ":" + cluster
}

// leaseKey holds the batch (or "forming:" token) that has a cluster, with an
// expiry: one RemoveNode job per cluster at a time.
func leaseKey(project, cluster string) string { return keyPrefix + "lease:" + project + ":" + cluster }

// reconcileKey holds the token of the task reconciling a batch.
func reconcileKey(batchID string) string { return keyPrefix + "reconciling:" + batchID }

// indexKey is a sorted set of request ids scored by creation time (ms).
const indexKey = keyPrefix + "requests"

// openKey is a sorted set of the ids of requests not final yet, scored by
// creation time (ms).
const openKey = keyPrefix + "open"

// Store reads and writes noderemover's state in Redis. It is safe for
// concurrent use.
type Store struct {
	rdb     redis.UniversalClient
	ttl     time.Duration
	now     func() time.Time
	corrupt func(key string, err error)
	snaps   *snapCache
	// eventsMaxLen trims the event stream.
	eventsMaxLen int64
}

// Options configure a Store.
type Options struct {
	// TTL is how long records and batches live after their last change;
	// default 7 days.
	TTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Corrupt is told of every record that is not what the store wrote
	// (not JSON) when it is skipped by a read of many; nil ignores them.
	Corrupt func(key string, err error)
	// EventsMaxLen is about how many events the stream keeps; default
	// DefaultEventsMaxLen.
	EventsMaxLen int64
}

// New returns a store on rdb.
func New(rdb redis.UniversalClient, o Options) *Store {
	if o.TTL <= 0 {
		o.TTL = 7 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Corrupt == nil {
		o.Corrupt = func(string, error) {}
	}
	if o.EventsMaxLen <= 0 {
		o.EventsMaxLen = DefaultEventsMaxLen
	}
	return &Store{rdb: rdb, ttl: o.TTL, now: func() time.Time { return o.Now().UTC() }, corrupt: o.Corrupt,
		snaps: newSnapCache(), eventsMaxLen: o.EventsMaxLen}
}

// CorruptError says a key holds what the store cannot read.
type CorruptError struct {
	Key string
	Err error
}

func (e *CorruptError) Error() string { return fmt.Sprintf("%s is corrupt: %v", e.Key, e.Err) }
func (e *CorruptError) Unwrap() error { return e.Err }

// decode reads the JSON value of key into v; ok is false when the key was
// missing (val is not a string).
func decode(val any, key string, v any) (ok bool, err error) {
	str, isString := val.(string)
	if !isString {
		return false, nil
	}
	if err := json.Unmarshal([]byte(str), v); err != nil {
		return false, &CorruptError{Key: key, Err: err}
	}
	return true, nil
}

// Get returns the record of request id.
func (s *Store) Get(ctx context.Context, id string) (*removal.Record, error) {
	var r removal.Record
	if err := s.getJSON(ctx, requestKey(id), &r); err != nil {
		return nil, fmt.Errorf("get request %s: %w", id, err)
	}
	return &r, nil
}

// GetBatch returns batch id.
func (s *Store) GetBatch(ctx context.Context, id string) (*removal.Batch, error) {
	var b removal.Batch
	if err := s.getJSON(ctx, batchKey(id), &b); err != nil {
		return nil, fmt.Errorf("get batch %s: %w", id, err)
	}
	return &b, nil
}

func (s *Store) getJSON(ctx context.Context, key string, v any) error {
	raw, err := s.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return removal.ErrNotFound
	}
	if err != nil {
		return err
	}
	_, err = decode(raw, key, v)
	return err
}

// GetMany returns the records of the requests ids that exist, by id, in
// one round trip. A corrupt record is left out and reported.
func (s *Store) GetMany(ctx context.Context, ids []string) (map[string]*removal.Record, error) {
	recs, _, err := s.readRecords(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("get requests: %w", err)
	}
	return recs, nil
}

// readRecords reads records by id with the bytes they were read as;
// missing and corrupt ones (reported) are left out.
func (s *Store) readRecords(ctx context.Context, ids []string) (map[string]*removal.Record, map[string]string, error) {
	recs := make(map[string]*removal.Record, len(ids))
	raws := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return recs, raws, nil
	}
	vals, err := s.rdb.MGet(ctx, keysOf(requestKey, ids)...).Result()
	if err != nil {
		return nil, nil, err
	}
	for i, v := range vals {
		var r removal.Record
		ok, err := decode(v, requestKey(ids[i]), &r)
		if err != nil {
			s.corrupt(requestKey(ids[i]), err)
			continue
		}
		if ok {
			recs[ids[i]], raws[ids[i]] = &r, v.(string)
		}
	}
	return recs, raws, nil
}

func keysOf(key func(string) string, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = key(id)
	}
	return out
}

// putRecord adds the write of r to p, with the events of its change from
// before (what it was read as; the zero Shape for a new request), and
// returns the bytes written.
func (s *Store) putRecord(p *plan, before removal.Shape, r *removal.Record) (string, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encode request %s: %w", r.RequestID, err)
	}
	p.set(requestKey(r.RequestID), string(raw), s.ttl)
	if err := s.putEvents(p, before, r); err != nil {
		return "", err
	}
	return string(raw), nil
}

// putBatch adds the write of b to p and returns the bytes written.
func (s *Store) putBatch(p *plan, b *removal.Batch) (string, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("encode batch %s: %w", b.ID, err)
	}
	p.set(batchKey(b.ID), string(raw), s.ttl)
	return string(raw), nil
}

// moved adds to p what follows from a record's state change: a final
// request leaves the open set and gives back its node claims; one that
// waited leaves its cluster's waiting set; one that goes back to queued
// joins it again, in its first place.
func moved(p *plan, r *removal.Record, from removal.State) {
	if r.State == from {
		return
	}
	waiting := waitingKey(r.ProjectID, r.ClusterID)
	if r.State.Final() {
		p.zrem(openKey, r.RequestID)
		p.hdel(budgetKey(r.ProjectID, r.ClusterID), r.RequestID) // its nodes no longer count against the budget
		for _, n := range r.Nodes {
			p.delIf(claimKey(r.ProjectID, r.ClusterID, n.UID), r.RequestID)
		}
	}
	switch {
	case r.State == removal.StateQueued:
		p.zadd(waiting, r.CreatedAt.UnixMilli(), r.RequestID)
	case from == removal.StateQueued:
		p.zrem(waiting, r.RequestID)
	}
}

// CorruptLog logs each corrupt key once, with the key; its Report is an
// Options.Corrupt.
type CorruptLog struct {
	log  zerolog.Logger
	mu   sync.Mutex
	seen map[string]bool
}

// NewCorruptLog returns a CorruptLog writing to log.
func NewCorruptLog(log zerolog.Logger) *CorruptLog {
	return &CorruptLog{log: log, seen: map[string]bool{}}
}

// Report notes one corrupt key that was skipped.
func (c *CorruptLog) Report(key string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[key] || len(c.seen) > 10000 {
		return
	}
	c.seen[key] = true
	c.log.Error().Str("key", key).Err(err).Msg("skipping a record that is not what noderemover wrote; delete the key or fix it")
}
