package removal

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Every key of ours carries the hash tag {noderemover}, so on Redis Cluster
// they share one slot and the store's transactions can span them.
const keyPrefix = "{noderemover}:"

func requestKey(id string) string { return keyPrefix + "request:" + id }
func batchKey(id string) string   { return keyPrefix + "batch:" + id }
func claimKey(project, cluster, uid string) string {
	return keyPrefix + "node:" + project + ":" + cluster + ":" + uid
}

// waitingKey is a sorted set of the ids of a cluster's queued requests,
// scored by creation time (ms): the requests the next batch is formed from.
func waitingKey(project, cluster string) string {
	return keyPrefix + "waiting:" + project + ":" + cluster
}

// leaseKey holds the id of the batch that has a cluster, with an expiry
// renewed while its job runs: one RemoveNode job per cluster at a time.
func leaseKey(project, cluster string) string { return keyPrefix + "lease:" + project + ":" + cluster }

// indexKey is a sorted set of request ids scored by creation time (ms).
const indexKey = keyPrefix + "requests"

// openKey is a sorted set of the ids of requests not final yet, scored by
// creation time (ms).
const openKey = keyPrefix + "open"

var (
	// ErrNotFound: no record (or batch) with that id, or it expired.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request id is taken by a request that asks for something else.
	ErrConflict = errors.New("request id already used for a different request")
	// ErrNodeBusy matches every *NodeBusyError.
	ErrNodeBusy = errors.New("node already in an unfinished request")
)

// NodeBusyError names the node and the unfinished request that holds it.
type NodeBusyError struct {
	Node      string
	RequestID string
	State     State
}

func (e *NodeBusyError) Error() string {
	return fmt.Sprintf("node %s is already in unfinished request %s (%s)", e.Node, e.RequestID, e.State)
}

// Is makes errors.Is(err, ErrNodeBusy) true.
func (e *NodeBusyError) Is(target error) bool { return target == ErrNodeBusy }

// Store keeps request records and batches in Redis. Records expire TTL after
// their last change.
type Store struct {
	rdb   redis.UniversalClient
	ttl   time.Duration
	now   func() time.Time
	snaps *snapCache
}

// StoreOptions configure a Store.
type StoreOptions struct {
	TTL time.Duration    // record and batch lifetime after the last change; default 7 days
	Now func() time.Time // default time.Now
}

// NewStore returns a store on rdb.
func NewStore(rdb redis.UniversalClient, o StoreOptions) *Store {
	if o.TTL <= 0 {
		o.TTL = 7 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{rdb: rdb, ttl: o.TTL, now: func() time.Time { return o.Now().UTC() }, snaps: newSnapCache()}
}

// Change is a record whose state a store call changed.
type Change struct {
	Record *Record
	From   State
}

// txRetries bounds optimistic transactions that keep losing a race.
const txRetries = 100

// writes is what a transaction decided to write, queued in a MULTI/EXEC
// pipeline; nil writes nothing.
type writes func(p redis.Pipeliner) error

// txn is an optimistic transaction: it reads keys under WATCH (one round
// trip where the client allows), lets decide look at their values (nil for a
// missing key) and choose the writes, and applies them with MULTI/EXEC. When
// another client changed a watched key in between, it starts again.
func (s *Store) txn(ctx context.Context, keys []string, decide func(tx *redis.Tx, vals []any) (writes, error)) error {
	return s.txnWith(ctx, keys, nil, decide)
}

// txnWith is txn with more reads (queued by extra) in the first round trip.
func (s *Store) txnWith(ctx context.Context, keys []string, extra func(p redis.Pipeliner), decide func(tx *redis.Tx, vals []any) (writes, error)) error {
	_, cluster := s.rdb.(*redis.ClusterClient)
	run := func(tx *redis.Tx) error {
		var mget *redis.SliceCmd
		_, err := tx.Pipelined(ctx, func(p redis.Pipeliner) error {
			if !cluster { // a cluster client has sent WATCH already, on the keys' node
				p.Do(ctx, append([]any{"WATCH"}, toAny(keys)...)...)
			}
			mget = p.MGet(ctx, keys...)
			if extra != nil {
				extra(p)
			}
			return nil
		})
		vals, merr := mget.Result()
		if merr != nil || (err != nil && !errors.Is(err, redis.Nil)) {
			_ = tx.Unwatch(ctx).Err()
			return cmp.Or(merr, err)
		}
		w, err := decide(tx, vals)
		if err != nil || w == nil {
			_ = tx.Unwatch(ctx).Err()
			return err
		}
		_, err = tx.TxPipelined(ctx, w)
		return err
	}
	watchKeys := keys
	if !cluster {
		watchKeys = nil // WATCH goes in the same round trip as the reads
	}
	for range txRetries {
		err := s.rdb.Watch(ctx, run, watchKeys...)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return fmt.Errorf("store: gave up after %d conflicting transactions", txRetries)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// decodeValue decodes a value read by MGET into v; ok is false when the key
// was missing.
func decodeValue(val any, key string, v any) (ok bool, err error) {
	str, isString := val.(string)
	if !isString {
		return false, nil
	}
	if err := json.Unmarshal([]byte(str), v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// Get returns the record of request id.
func (s *Store) Get(ctx context.Context, id string) (*Record, error) {
	var r Record
	if err := s.getJSON(ctx, s.rdb, requestKey(id), &r); err != nil {
		return nil, fmt.Errorf("get request %s: %w", id, err)
	}
	return &r, nil
}

// GetMany returns the records of the requests ids that exist, by id, in
// one round trip.
func (s *Store) GetMany(ctx context.Context, ids []string) (map[string]*Record, error) {
	recs, err := s.getRecords(ctx, s.rdb, ids)
	if err != nil {
		return nil, fmt.Errorf("get requests: %w", err)
	}
	return recs, nil
}

// GetBatch returns batch id.
func (s *Store) GetBatch(ctx context.Context, id string) (*Batch, error) {
	var b Batch
	if err := s.getJSON(ctx, s.rdb, batchKey(id), &b); err != nil {
		return nil, fmt.Errorf("get batch %s: %w", id, err)
	}
	return &b, nil
}

func (s *Store) getJSON(ctx context.Context, c redis.Cmdable, key string, v any) error {
	raw, err := c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// getRecords reads records by id through c; missing ones are left out.
func (s *Store) getRecords(ctx context.Context, c redis.Cmdable, ids []string) (map[string]*Record, error) {
	if len(ids) == 0 {
		return map[string]*Record{}, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = requestKey(id)
	}
	vals, err := c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	recs := make(map[string]*Record, len(ids))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var r Record
		if err := json.Unmarshal([]byte(str), &r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", keys[i], err)
		}
		recs[ids[i]] = &r
	}
	return recs, nil
}

// putRecord queues the write of r in p, refreshing its lifetime, and
// returns the bytes written.
func (s *Store) putRecord(ctx context.Context, p redis.Pipeliner, r *Record) (string, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	p.Set(ctx, requestKey(r.RequestID), raw, s.ttl)
	return string(raw), nil
}

// releaseSource deletes each claim that still names the request (ARGV[1]).
const releaseSource = `
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k); n = n + 1 end
end
return n`

// finish queues in p what follows a request becoming final: it leaves the
// open set and its nodes are released. The claims are not watched: a claim
// left behind is harmless anyway, as Create ignores claims of final requests.
func finish(ctx context.Context, p redis.Pipeliner, r *Record) {
	if !r.State.Final() {
		return
	}
	p.ZRem(ctx, openKey, r.RequestID)
	p.ZRem(ctx, waitingKey(r.ProjectID, r.ClusterID), r.RequestID)
	if len(r.Nodes) == 0 {
		return
	}
	p.Eval(ctx, releaseSource, claimKeys(r), r.RequestID)
}

func claimKeys(r *Record) []string {
	keys := make([]string, len(r.Nodes))
	for i, n := range r.Nodes {
		keys[i] = claimKey(r.ProjectID, r.ClusterID, n.UID)
	}
	return keys
}

func jsonString(v any) (string, error) {
	raw, err := json.Marshal(v)
	return string(raw), err
}
