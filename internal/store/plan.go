package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A plan is everything one store call writes, decided in Go and carried out
// by one script, atomically: first its checks (each key still holds the
// value the plan was made from, or is still missing), then, only if every
// check holds, its writes. It is the store's only way to write a record, a
// batch, a claim, a lease or a set of ids, so every path that changes them
// leaves Redis the same way. A failed check writes nothing and means the
// plan is stale: read again and make a new one.
type plan struct {
	keys  []string
	ops   []any // checks, then writes: op name, key index, arguments
	write bool  // a write op was added: no more checks
}

func newPlan() *plan { return &plan{keys: make([]string, 0, 8), ops: make([]any, 0, 48)} }

// key is k's 1-based place in keys, added if new. Plans name a few keys,
// so a scan is cheaper than a map.
func (p *plan) key(k string) int {
	for i, have := range p.keys {
		if have == k {
			return i + 1
		}
	}
	p.keys = append(p.keys, k)
	return len(p.keys)
}

func (p *plan) check(op, k string, args ...any) {
	if p.write {
		panic("store: plan check added after a write") // a bug in the plan's builder
	}
	p.ops = append(append(p.ops, op, p.key(k)), args...)
}

func (p *plan) do(op, k string, args ...any) {
	p.write = true
	p.ops = append(append(p.ops, op, p.key(k)), args...)
}

// Checks.

// holds: k still holds val ("" expects it missing).
func (p *plan) holds(k, val string) {
	if val == "" {
		p.check("missing", k)
		return
	}
	p.check("eq", k, val)
}

// hholds: field f of hash k still holds val ("" expects it missing).
func (p *plan) hholds(k, f, val string) { p.check("heq", k, f, val) }

// Writes.

func (p *plan) set(k, val string, ttl time.Duration) { p.do("set", k, val, ttl.Milliseconds()) }
func (p *plan) del(k string)                         { p.do("del", k) }

// delIf deletes k if it holds val (a claim or lease given back by its owner).
func (p *plan) delIf(k, val string) { p.do("delif", k, val) }

func (p *plan) zadd(k string, score int64, member string) { p.do("zadd", k, score, member) }
func (p *plan) zrem(k, member string)                     { p.do("zrem", k, member) }
func (p *plan) zremBelow(k string, score int64) {
	p.do("zremrangebyscore", k, "-inf", "("+strconv.FormatInt(score, 10))
}
func (p *plan) lpushCapped(k string, val string, n int, ttl time.Duration) {
	p.do("lpushcap", k, val, n, ttl.Milliseconds())
}

func (p *plan) hset(k, f, val string) { p.do("hset", k, f, val) }
func (p *plan) hdel(k, f string)      { p.do("hdel", k, f) }
func (p *plan) hincr(k, f string)     { p.do("hincr", k, f) }

// xadd appends an entry to stream k, trimmed to about maxLen entries.
func (p *plan) xadd(k string, maxLen int64, subject, cluster, hook, event string) {
	p.do("xadd", k, maxLen, subject, cluster, hook, event)
}

// xhook appends to stream k what the last xadd appended, with its id: the
// entry a callback's delivery is made from.
func (p *plan) xhook(k string, maxLen int64, subject, hook, event string) {
	p.do("xhook", k, maxLen, subject, hook, event)
}

// first asks for the first member of sorted set k after the writes.
func (p *plan) first(k string) {
	p.do("first", k)
}

// planSource carries out a plan.
// KEYS: every key the plan names, each once.
// ARGV: op, key index into KEYS, arguments; repeated. Checks come first:
//
//	eq K V        GET K == V
//	missing K     K does not exist
//	heq K F V     HGET K F == V ("" V: F is missing)
//
// then writes:
//
//	set K V MS            SET K V PX MS
//	del K                 DEL K
//	delif K V             DEL K if GET K == V
//	zadd K SCORE M        ZADD K SCORE M
//	zrem K M              ZREM K M
//	zremrangebyscore K MIN MAX
//	lpushcap K V N MS     LPUSH K V, LTRIM K 0 N-1, PEXPIRE K MS
//	hset K F V            HSET K F V
//	hdel K F              HDEL K F
//	hincr K F             HINCRBY K F 1
//	xadd K N S C H E      XADD K MAXLEN ~ N * subject S cluster C hook H event E
//	xhook K N S H E       XADD K MAXLEN ~ N * id ID subject S hook H event E, ID the last xadd's
//	first K               the first member of K (ZRANGE K 0 0) is returned
//
// Returns 0 when a check failed (nothing written), else {1, first} with
// first the answer of the last "first" op ("" without one).
const planSource = `
local i, n, first, added = 1, #ARGV, '', ''
while i <= n do
  local op, k = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if op == 'eq' then
    if redis.call('GET', k) ~= ARGV[i + 2] then return 0 end
    i = i + 3
  elseif op == 'missing' then
    if redis.call('EXISTS', k) == 1 then return 0 end
    i = i + 2
  elseif op == 'heq' then
    if (redis.call('HGET', k, ARGV[i + 2]) or '') ~= ARGV[i + 3] then return 0 end
    i = i + 4
  else
    break
  end
end
while i <= n do
  local op, k = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if op == 'set' then
    redis.call('SET', k, ARGV[i + 2], 'PX', ARGV[i + 3]); i = i + 4
  elseif op == 'del' then
    redis.call('DEL', k); i = i + 2
  elseif op == 'delif' then
    if redis.call('GET', k) == ARGV[i + 2] then redis.call('DEL', k) end
    i = i + 3
  elseif op == 'zadd' then
    redis.call('ZADD', k, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'zrem' then
    redis.call('ZREM', k, ARGV[i + 2]); i = i + 3
  elseif op == 'zremrangebyscore' then
    redis.call('ZREMRANGEBYSCORE', k, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'hset' then
    redis.call('HSET', k, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'hdel' then
    redis.call('HDEL', k, ARGV[i + 2]); i = i + 3
  elseif op == 'hincr' then
    redis.call('HINCRBY', k, ARGV[i + 2], 1); i = i + 3
  elseif op == 'xadd' then
    added = redis.call('XADD', k, 'MAXLEN', '~', ARGV[i + 2], '*', 'subject', ARGV[i + 3], 'cluster', ARGV[i + 4],
      'hook', ARGV[i + 5], 'event', ARGV[i + 6]); i = i + 7
  elseif op == 'xhook' then
    redis.call('XADD', k, 'MAXLEN', '~', ARGV[i + 2], '*', 'id', added, 'subject', ARGV[i + 3],
      'hook', ARGV[i + 4], 'event', ARGV[i + 5]); i = i + 6
  elseif op == 'lpushcap' then
    redis.call('LPUSH', k, ARGV[i + 2])
    redis.call('LTRIM', k, 0, tonumber(ARGV[i + 3]) - 1)
    redis.call('PEXPIRE', k, ARGV[i + 4]); i = i + 5
  elseif op == 'first' then
    first = redis.call('ZRANGE', k, 0, 0)[1] or ''; i = i + 2
  else
    return redis.error_reply('plan: unknown op ' .. tostring(op))
  end
end
return {1, first}`

var planScript = redis.NewScript(planSource)

// errStalePlan: a check of the plan failed; nothing was written.
var errStalePlan = errors.New("store: what the plan was made from changed")

// run carries out the plan. It returns errStalePlan when a check failed,
// and the answer of the plan's "first" op.
func (p *plan) run(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	if len(p.ops) == 0 {
		return "", nil
	}
	res, err := planScript.Run(ctx, rdb, p.keys, p.ops...).Result()
	if err != nil {
		return "", err
	}
	out, ok := res.([]any)
	if !ok {
		return "", errStalePlan
	}
	if len(out) != 2 {
		return "", fmt.Errorf("store: plan answered %v", res)
	}
	first, _ := out[1].(string)
	return first, nil
}
