// Package ratelimit owns the CCE rate limits every worker shares: one pace
// for RemoveNode calls and one for reads, kept in Redis so that all workers
// together stay within what CCE's gateway allows, and slowed down for a
// while when CCE answers 429 anyway.
//
// A caller reserves the next free slot of the pace and makes its call when
// that slot comes: slots are handed out in order, none is lost to callers
// racing each other, and one that no call followed is given back. The pace
// is Pace of the rate set, which leaves a tenth of a second (for rates
// below 1/s, a tenth of 1/rate) in every second: half of it lets a caller
// that comes a little late still have the slot it missed (so lateness does
// not cost slots), half absorbs calls reaching CCE unevenly. Either way no
// more than the rate arrive in any one second, which is how CCE's gateway
// counts.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Pace is the share of the configured rate the slots are spaced for.
const Pace = 0.9

const (
	// minFactor is the lowest the shared factor goes after repeated 429s.
	minFactor = 1.0 / 16
	// factorStep is what one call that went through adds back.
	factorStep = 0.05
	// factorMemory is how long a lowered factor lasts without calls.
	factorMemory = 10 * time.Minute
)

// The limiter's keys carry the store's hash tag, so they live with it on
// Redis Cluster: {noderemover}:cce:<region>:<project>:<kind>:..., or
// {noderemover}:cce:<kind>:... for a limiter of no scope.
func (l *Limiter) nextKey() string   { return l.prefix + ":next" }   // when the next slot is free (µs)
func (l *Limiter) factorKey() string { return l.prefix + ":factor" } // share of the pace, after 429s
func (l *Limiter) pauseKey() string  { return l.prefix + ":pause" }  // no slot before this (µs)

// Scope names the limit of one region and project: CCE's gateway counts
// each project of each region on its own. Region "" (a fleet's one
// endpoint) is "default", which no region is called.
func Scope(region, project string) string {
	if region == "" {
		region = "default"
	}
	return region + ":" + project
}

// Limiter paces one kind of CCE call ("write" or "read") across every
// worker. A nil Limiter, or one with no rate, lets every call go at once.
type Limiter struct {
	rdb      redis.UniversalClient
	kind     string
	prefix   string // of its keys
	interval int64  // µs between slots at the full pace; 0: unlimited
	o        Options
	// lowered is whether the factor was below 1 at the last take, so that
	// Succeeded only writes when there is something to give back.
	lowered atomic.Bool
}

// Options configure a Limiter.
type Options struct {
	// Now is the clock the pace is kept on; nil is Redis's own (TIME),
	// the one clock every worker shares.
	Now func() time.Time
	// Taken and Returned, when set, are told of every slot taken and every
	// slot given back, with the limiter's kind (for metrics).
	Taken, Returned func(kind string)
	// Scope, when set (Scope(region, project)), makes the limiter that
	// scope's own: its keys name it, and limiters of other scopes do not
	// share its pace, its factor or its pause.
	Scope string
}

// New returns the limiter of kind for perSecond calls a second (0 or less:
// unlimited), all workers together.
func New(rdb redis.UniversalClient, kind string, perSecond float64, o Options) *Limiter {
	l := &Limiter{rdb: rdb, kind: kind, o: o, prefix: "{noderemover}:cce:" + kind}
	if o.Scope != "" {
		l.prefix = "{noderemover}:cce:" + o.Scope + ":" + kind
	}
	if perSecond > 0 {
		l.interval = max(1, int64(math.Round(1e6/(perSecond*Pace))))
	}
	return l
}

// Slot is one call's place in the pace. Its caller makes the call, or gives
// the slot back.
type Slot struct {
	l     *Limiter
	next  string // what the slot set the next free time to
	start string // and what it was before
}

// reserveSource hands out the next slot if it comes within the wait allowed.
// A slot missed by less than the tolerance is still handed out.
// KEYS[1]: the next free time (µs); KEYS[2]: the factor; KEYS[3]: the pause.
// ARGV[1]: µs between slots at factor 1; ARGV[2]: the longest wait allowed
// (µs); ARGV[3]: now (µs), or "" for Redis's clock; ARGV[4]: Pace.
// Returns {1, wait µs, factor, next, start} for a slot reserved (its time is
// start, now+wait), {0, wait µs, factor} when the next slot is further away.
var reserveScript = redis.NewScript(nowLua(3) + `
local factor = tonumber(redis.call('GET', KEYS[2]) or '1')
if not factor or factor <= 0 or factor > 1 then factor = 1 end
local interval = math.floor(tonumber(ARGV[1]) / factor)
local pace = tonumber(ARGV[4])
local tolerance = math.floor((1 / pace - 1) * math.max(1000000, interval * pace) / 2)
local slot = math.max(now - tolerance, tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(redis.call('GET', KEYS[3]) or '0'))
local wait = math.max(slot - now, 0)
if wait > tonumber(ARGV[2]) then return {0, wait, tostring(factor)} end
local nxt = slot + interval
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.floor((nxt - now) / 1000) + 1000)
return {1, wait, tostring(factor), string.format('%d', nxt), string.format('%d', slot)}`)

// nowLua is the start of a script that sets now to ARGV[arg] (µs), or to
// Redis's own clock when that is "".
func nowLua(arg int) string {
	return fmt.Sprintf(`
local now
if ARGV[%d] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[%d])
end`, arg, arg)
}

// Take reserves the next call slot when it comes within maxWait, waits for
// it and returns it: the call may go. Otherwise it reserves nothing and
// returns how long until the next slot is free (come back then: a caller
// up to maxWait early still gets it); waiting is not a failure.
// An unlimited limiter returns a nil *Slot at once.
func (l *Limiter) Take(ctx context.Context, maxWait time.Duration) (*Slot, time.Duration, error) {
	if l == nil || l.interval == 0 {
		return nil, 0, nil
	}
	res, err := reserveScript.Run(ctx, l.rdb, []string{l.nextKey(), l.factorKey(), l.pauseKey()},
		l.interval, maxWait.Microseconds(), l.nowArg(), Pace).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("%s limiter: %w", l.kind, err)
	}
	wait := time.Duration(res[1].(int64)) * time.Microsecond
	factor, _ := strconv.ParseFloat(res[2].(string), 64)
	l.lowered.Store(factor < 1)
	if res[0].(int64) == 0 {
		return nil, wait, nil
	}
	s := &Slot{l: l, next: res[3].(string), start: res[4].(string)}
	if l.o.Taken != nil {
		l.o.Taken(l.kind)
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.Return(context.WithoutCancel(ctx))
			return nil, 0, ctx.Err()
		case <-t.C:
		}
	}
	return s, 0, nil
}

// returnSource sets the next free time back to when the slot began, if no
// slot was handed out after it.
// KEYS[1]: the next free time. ARGV[1]: what the slot set it to;
// ARGV[2]: what it was before.
var returnScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0`)

// Return gives back a slot no call followed, so that the next caller gets
// it; a slot handed out after this one keeps its place, and then this one
// stays spent.
func (s *Slot) Return(ctx context.Context) {
	if s == nil {
		return
	}
	n, err := returnScript.Run(ctx, s.l.rdb, []string{s.l.nextKey()}, s.next, s.start).Int()
	if err == nil && n == 1 && s.l.o.Returned != nil {
		s.l.o.Returned(s.l.kind)
	}
}

func (l *Limiter) nowArg() string {
	if l.o.Now == nil {
		return ""
	}
	return strconv.FormatInt(l.o.Now().UnixMicro(), 10)
}

// decreaseScript halves the factor (not below a floor) for a while and
// pauses every caller for the Retry-After, unless paused longer already.
// KEYS[1]: the factor; KEYS[2]: the pause. ARGV[1]: the floor; ARGV[2]: how
// long the factor lasts (ms); ARGV[3]: the pause (µs); ARGV[4]: now (µs) or
// "" for Redis's clock.
var decreaseScript = redis.NewScript(nowLua(4) + `
local f = tonumber(redis.call('GET', KEYS[1]) or '1')
f = math.max(tonumber(ARGV[1]), f / 2)
redis.call('SET', KEYS[1], tostring(f), 'PX', ARGV[2])
local till = now + tonumber(ARGV[3])
if till > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], string.format('%d', till), 'PX', math.floor(tonumber(ARGV[3]) / 1000) + 1)
end
return tostring(f)`)

// increaseScript adds ARGV[1] to a factor below 1, dropping it at 1.
// KEYS[1]: the factor. ARGV[1]: the step; ARGV[2]: how long it lasts (ms).
var increaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return '1' end
local f = tonumber(v) + tonumber(ARGV[1])
if f >= 1 then redis.call('DEL', KEYS[1]); return '1' end
redis.call('SET', KEYS[1], tostring(f), 'PX', ARGV[2])
return tostring(f)`)

// Throttled lowers the shared pace after a 429 and pauses every caller for
// retryAfter (CCE's Retry-After, or 0).
func (l *Limiter) Throttled(ctx context.Context, retryAfter time.Duration) error {
	if l == nil || l.interval == 0 {
		return nil
	}
	err := decreaseScript.Run(ctx, l.rdb, []string{l.factorKey(), l.pauseKey()},
		minFactor, factorMemory.Milliseconds(), max(retryAfter, 0).Microseconds(), l.nowArg()).Err()
	if err != nil {
		return fmt.Errorf("%s limiter: %w", l.kind, err)
	}
	l.lowered.Store(true)
	return nil
}

// Succeeded gives back some of a lowered pace after a call went through.
func (l *Limiter) Succeeded(ctx context.Context) {
	if l == nil || l.interval == 0 || !l.lowered.Load() {
		return
	}
	_ = increaseScript.Run(ctx, l.rdb, []string{l.factorKey()}, factorStep, factorMemory.Milliseconds()).Err()
}
