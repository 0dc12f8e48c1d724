package worker

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// limiter paces one kind of CCE call (writes or reads) across every worker
// process, through Redis: a GCRA limit (redis_rate) at the configured rate
// times a shared factor. A 429 from CCE halves the factor for a while and
// pauses every caller for its Retry-After; each call that goes through adds a
// little back (multiplicative decrease, additive increase).
type limiter struct {
	rdb    redis.UniversalClient
	gcra   *redis_rate.Limiter
	kind   string  // "write" or "read"
	rate   float64 // calls per second; 0: unlimited
	clock  func() time.Time
	onSlot func(kind string) // told of every slot granted
	// lowered is whether the factor was below 1 at the last take, so that
	// succeeded only writes to Redis when there is something to give back.
	lowered atomic.Bool
}

const (
	// rateMargin keeps the pace below the configured rate: calls leave on
	// time but reach CCE with jitter (a loaded machine, a slow connection),
	// and CCE's own bucket is strict.
	rateMargin = 0.85
	// jitterAllowance is added to every interval, for high rates where 15%
	// of it is less than the jitter of a call.
	jitterAllowance = 5 * time.Millisecond
	// minFactor is the lowest the shared factor goes after repeated 429s.
	minFactor = 1.0 / 16
	// factorStep is what one call that went through adds back.
	factorStep = 0.05
	// factorMemory is how long a lowered factor lasts without calls.
	factorMemory = 10 * time.Minute
)

// The limiter's keys carry the store's hash tag, so they live with it on
// Redis Cluster.
func limitKey(kind string) string  { return "{noderemover}:cce:" + kind } // redis_rate prefixes "rate:"
func factorKey(kind string) string { return "{noderemover}:cce:" + kind + ":factor" }
func pauseKey(kind string) string  { return "{noderemover}:cce:" + kind + ":pause" }

func newLimiter(rdb redis.UniversalClient, kind string, perSecond float64, clock func() time.Time) *limiter {
	return &limiter{rdb: rdb, gcra: redis_rate.NewLimiter(rdb), kind: kind, rate: perSecond, clock: clock}
}

// inlineWait is how long take waits in the handler for a slot. asynq runs a
// task again only at whole seconds, and all tasks told to wait for a slot
// would then ask at the same moment, one getting through per second: so a
// wait shorter than that is waited out here, and only longer ones go back
// to the queue.
const inlineWait = time.Second

// take asks for one call. It returns 0 when the call may go (after waiting
// at most inlineWait for a slot), else how long to wait before asking again.
// Waiting is not a failure.
func (l *limiter) take(ctx context.Context) (time.Duration, error) {
	return l.takeWithin(ctx, inlineWait)
}

// takeWithin is take waiting up to limit in the handler, for a step that
// would lose its work by going back to the queue.
func (l *limiter) takeWithin(ctx context.Context, limit time.Duration) (time.Duration, error) {
	if l == nil || l.rate <= 0 {
		return 0, nil
	}
	var waited time.Duration
	for {
		d, err := l.try(ctx)
		if err != nil || d == 0 || waited+d > limit {
			return d, err
		}
		d = jitter(d) // contenders woken together would collide again
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
		waited += d
	}
}

// try asks for one call now: 0 when it may go, else the wait for a slot.
func (l *limiter) try(ctx context.Context) (time.Duration, error) {
	vals, err := l.rdb.MGet(ctx, pauseKey(l.kind), factorKey(l.kind)).Result()
	if err != nil {
		return 0, fmt.Errorf("%s limiter: %w", l.kind, err)
	}
	if until, ok := parseFloat(vals[0]); ok {
		if wait := time.UnixMilli(int64(until)).Sub(l.clock()); wait > 0 {
			return wait, nil
		}
	}
	factor := 1.0
	if f, ok := parseFloat(vals[1]); ok && f > 0 && f < 1 {
		factor = f
	}
	l.lowered.Store(factor < 1)
	interval := time.Duration(float64(time.Second)/(l.rate*rateMargin*factor)) + jitterAllowance
	res, err := l.gcra.Allow(ctx, limitKey(l.kind), redis_rate.Limit{Rate: 1, Burst: 1, Period: interval})
	if err != nil {
		return 0, fmt.Errorf("%s limiter: %w", l.kind, err)
	}
	if res.Allowed > 0 {
		if l.onSlot != nil {
			l.onSlot(l.kind)
		}
		return 0, nil
	}
	return max(res.RetryAfter, time.Millisecond), nil
}

// decreaseSource halves the factor (not below ARGV[1]), keeps it ARGV[2] ms,
// and pauses callers until ARGV[3] (unix ms) unless already paused longer.
var decreaseScript = redis.NewScript(`
local f = tonumber(redis.call('GET', KEYS[1]) or '1')
f = math.max(tonumber(ARGV[1]), f / 2)
redis.call('SET', KEYS[1], tostring(f), 'PX', ARGV[2])
local till = tonumber(ARGV[3])
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if till > cur then
  redis.call('SET', KEYS[2], tostring(till), 'PX', math.max(1, till - tonumber(ARGV[4])))
end
return tostring(f)`)

// increaseSource adds ARGV[1] to a factor below 1, dropping it at 1.
var increaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return '1' end
local f = tonumber(v) + tonumber(ARGV[1])
if f >= 1 then redis.call('DEL', KEYS[1]); return '1' end
redis.call('SET', KEYS[1], tostring(f), 'PX', ARGV[2])
return tostring(f)`)

// throttled lowers the shared rate after a 429 and pauses everyone for
// retryAfter (CCE's Retry-After, or 0).
func (l *limiter) throttled(ctx context.Context, retryAfter time.Duration) error {
	if l == nil || l.rate <= 0 {
		return nil
	}
	now := l.clock()
	until := now.Add(retryAfter).UnixMilli()
	err := decreaseScript.Run(ctx, l.rdb, []string{factorKey(l.kind), pauseKey(l.kind)},
		minFactor, factorMemory.Milliseconds(), until, now.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("%s limiter: %w", l.kind, err)
	}
	return nil
}

// succeeded gives back some of a lowered rate after a call went through.
func (l *limiter) succeeded(ctx context.Context) {
	if l == nil || l.rate <= 0 || !l.lowered.Load() {
		return
	}
	_ = increaseScript.Run(ctx, l.rdb, []string{factorKey(l.kind)}, factorStep, factorMemory.Milliseconds()).Err()
}

func parseFloat(v any) (float64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
