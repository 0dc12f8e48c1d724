package removal

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/redis/go-redis/v9"
)

// snapshot is the exact JSON the store last wrote for a batch and its
// member records, kept on the Batch it returned. The next UpdateBatch of that
// batch changes them in one round trip (a compare-and-set on those bytes)
// when nothing else has written them since, instead of a read and a
// transaction.
type snapshot struct {
	keys []string // member records, then the batch
	vals []string
}

func (s *snapshot) add(key, val string) {
	s.keys = append(s.keys, key)
	s.vals = append(s.vals, val)
}

// casSource sets each of the first n=ARGV[2] KEYS to its new value (with a
// lifetime of ARGV[1] ms) provided every one still holds its old value; then
// deletes each of the next m=ARGV[3] KEYS (node claims) that still names its
// owner, takes the requests that became final out of the open set (KEYS[n+m+1])
// and, when ARGV[4] names the batch that ended, gives back its cluster lease
// (KEYS[n+m+2]) if the batch still holds it. It returns 1 when it wrote, 0
// when a value had changed.
// ARGV: ttl, n, m, ended batch or "", old values (n), new values (n),
// owners (m), final request ids.
const casSource = `
local n, m = tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 1, n do
  if redis.call('GET', KEYS[i]) ~= ARGV[4 + i] then return 0 end
end
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[4 + n + i], 'PX', ARGV[1])
end
for i = 1, m do
  if redis.call('GET', KEYS[n + i]) == ARGV[4 + 2 * n + i] then redis.call('DEL', KEYS[n + i]) end
end
for i = 5 + 2 * n + m, #ARGV do
  redis.call('ZREM', KEYS[n + m + 1], ARGV[i])
end
if ARGV[4] ~= '' and redis.call('GET', KEYS[n + m + 2]) == ARGV[4] then
  redis.call('DEL', KEYS[n + m + 2])
end
return 1`

var casScript = redis.NewScript(casSource)

// updateFromSnapshot is UpdateBatch's fast path. ok is false when it could
// not be taken (no snapshot, someone else wrote since, or fn refused): then
// nothing was written and the caller runs the transaction.
func (s *Store) updateFromSnapshot(ctx context.Context, b *Batch, fn func(*Batch, map[string]*Record) error) (*Batch, []Change, bool) {
	snap := b.snap
	if snap == nil {
		snap = s.snaps.get(b.ID)
	}
	if snap == nil || len(snap.keys) < 1 {
		return nil, nil, false
	}
	var cur Batch
	if json.Unmarshal([]byte(snap.vals[len(snap.vals)-1]), &cur) != nil {
		return nil, nil, false
	}
	recs := make(map[string]*Record, len(b.Members))
	before := make(map[string]State, len(b.Members))
	order := make([]*Record, 0, len(b.Members))
	for _, raw := range snap.vals[:len(snap.vals)-1] {
		var r Record
		if json.Unmarshal([]byte(raw), &r) != nil {
			return nil, nil, false
		}
		recs[r.RequestID], before[r.RequestID] = &r, r.State
		order = append(order, &r)
	}
	if fn(&cur, recs) != nil {
		return nil, nil, false
	}
	now := s.now()
	cur.UpdatedAt = now
	next := &snapshot{}
	var changes []Change
	var claims []string
	var owners, finals []any
	for _, r := range order {
		if r.State != before[r.RequestID] {
			if r.State == StateQueued {
				return nil, nil, false // back to waiting: the transaction does it
			}
			changes = append(changes, Change{Record: r, From: before[r.RequestID]})
			if r.State.Final() {
				for _, n := range r.Nodes {
					claims = append(claims, claimKey(r.ProjectID, r.ClusterID, n.UID))
					owners = append(owners, r.RequestID)
				}
				finals = append(finals, r.RequestID)
			}
		}
		r.UpdatedAt = now
		raw, err := json.Marshal(r)
		if err != nil {
			return nil, nil, false
		}
		next.add(requestKey(r.RequestID), string(raw))
	}
	raw, err := json.Marshal(&cur)
	if err != nil {
		return nil, nil, false
	}
	next.add(batchKey(cur.ID), string(raw))
	if len(next.keys) != len(snap.keys) {
		return nil, nil, false
	}
	ended := ""
	if cur.State == BatchDone {
		ended = cur.ID
	}
	args := make([]any, 0, 4+2*len(snap.keys)+len(owners)+len(finals))
	args = append(args, s.ttl.Milliseconds(), len(snap.keys), len(claims), ended)
	for _, v := range snap.vals {
		args = append(args, v)
	}
	for _, v := range next.vals {
		args = append(args, v)
	}
	args = append(append(args, owners...), finals...)
	keys := append(append(append([]string(nil), snap.keys...), claims...), openKey, leaseKey(cur.ProjectID, cur.ClusterID))
	if done, err := casScript.Run(ctx, s.rdb, keys, args...).Int(); err != nil || done != 1 {
		s.snaps.drop(b.ID)
		return nil, nil, false
	}
	cur.snap = next
	s.snaps.keep(&cur)
	return &cur, changes, true
}

// snapCache keeps the latest snapshot of recent batches in this process, so
// a later task for the same batch (a poll) finds it without the caller
// holding the Batch value. Bounded; an evicted or stale entry only costs the
// slow path.
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

// keep remembers b's snapshot, or forgets it once the batch is done.
func (c *snapCache) keep(b *Batch) {
	if b.State == BatchDone || b.snap == nil {
		c.drop(b.ID)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[b.ID]; !ok {
		c.order = append(c.order, b.ID)
	}
	c.m[b.ID] = b.snap
	for len(c.m) > snapCacheSize && len(c.order) > 0 {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}

func (c *snapCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}
