package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestPaceKeepsEverySecondWithinTheRate steps a clock through some seconds,
// taking every slot the moment it is free from two limiters (two workers),
// and checks that they got Pace of the rate between them and never more
// than the rate in any one second, as the gateway counts.
func TestPaceKeepsEverySecondWithinTheRate(t *testing.T) {
	for _, rate := range []float64{0.5, 2, 20, 200} {
		rdb := redistest.Start(t, redistest.Options{}).Client(t)
		clock := testkit.NewClock(time.Time{})
		a := New(rdb, "write", rate, Options{Now: clock.Now})
		b := New(rdb, "write", rate, Options{Now: clock.Now})
		start := clock.Now()
		span := time.Duration(max(40/rate, 2) * float64(time.Second)) // 40 slots at least
		step := time.Duration(float64(time.Second) / rate / 10)
		var grants []time.Time
		for clock.Now().Sub(start) < span {
			for _, l := range []*Limiter{a, b} {
				slot, d, err := l.Take(t.Context(), 0)
				if err != nil {
					t.Fatal(err)
				}
				if slot != nil {
					grants = append(grants, clock.Now())
				} else if d <= 0 {
					t.Fatalf("refused a slot without a wait")
				}
			}
			clock.Advance(step)
		}
		got := float64(len(grants)) / span.Seconds()
		if got < 0.85*rate || got > rate {
			t.Errorf("rate %v/s: %d slots in %v (%.2f/s, %.2f of the rate); want %.2f of it", rate, len(grants), span, got, got/rate, Pace)
		}
		window := time.Second
		if rate < 1 {
			window = time.Duration(float64(time.Second) / rate) // one call in any 1/rate seconds
		}
		limit := max(int(rate), 1)
		for i := range grants {
			n := 0
			for j := i; j < len(grants) && grants[j].Sub(grants[i]) < window; j++ {
				n++
			}
			if n > limit {
				t.Fatalf("rate %v/s: %d slots in the %v from %v", rate, n, window, grants[i].Sub(start))
			}
		}
	}
}

// TestTakeWaitsForTheNextSlot: a slot less than the wait allowed away is
// reserved and waited for; one further away is not reserved, and the wait
// comes back instead.
func TestTakeWaitsForTheNextSlot(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	a := New(rdb, "write", 10, Options{})
	b := New(rdb, "write", 10, Options{}) // another worker
	if slot, d, err := a.Take(t.Context(), 0); slot == nil || d != 0 || err != nil {
		t.Fatalf("first take: %v %v %v", slot, d, err)
	}
	slot, d, err := b.Take(t.Context(), 0)
	if slot != nil || err != nil || d <= 0 || d > 112*time.Millisecond {
		t.Fatalf("take at once from another worker: %v %v %v; want a wait of up to one interval (111ms)", slot, d, err)
	}
	if slot, d, err := b.Take(t.Context(), time.Second); slot == nil || d != 0 || err != nil {
		t.Fatalf("take waiting up to a second: %v %v %v; want the next slot", slot, d, err)
	}
}

// TestReturnGivesTheSlotToTheNextCaller: a slot no call followed goes to
// the next caller, unless one was handed out after it.
func TestReturnGivesTheSlotToTheNextCaller(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	clock := testkit.NewClock(time.Time{})
	var returned int
	l := New(rdb, "write", 1, Options{Now: clock.Now, Returned: func(string) { returned++ }})
	first, _, _ := l.Take(t.Context(), 0)
	if first == nil {
		t.Fatal("no first slot")
	}
	if slot, _, _ := l.Take(t.Context(), 0); slot != nil {
		t.Fatal("a second slot at once at 1/s")
	}
	first.Return(t.Context())
	second, _, _ := l.Take(t.Context(), 0)
	if second == nil || returned != 1 {
		t.Fatalf("after the return: slot %v, %d returned; want the returned slot", second, returned)
	}
	clock.Advance(2 * time.Second)
	third, _, _ := l.Take(t.Context(), 0)
	if third == nil {
		t.Fatal("no slot two seconds on")
	}
	second.Return(t.Context()) // a slot was handed out after it: it stays spent
	if returned != 1 {
		t.Errorf("%d returned; a slot handed out after it should keep the return from taking place", returned)
	}
	if slot, _, _ := l.Take(t.Context(), 0); slot != nil {
		t.Error("a stale return made a slot free")
	}
}

// TestCancelledWaitGivesTheSlotBack: a caller whose context ends while it
// waits for its slot gives it back.
func TestCancelledWaitGivesTheSlotBack(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	var returned int
	var mu sync.Mutex
	l := New(rdb, "write", 1, Options{Returned: func(string) { mu.Lock(); returned++; mu.Unlock() }})
	if slot, _, _ := l.Take(t.Context(), 0); slot == nil {
		t.Fatal("no first slot")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if slot, _, err := l.Take(ctx, 5*time.Second); slot != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("take cut off: %v %v", slot, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if returned != 1 {
		t.Errorf("%d slots returned, want the one reserved", returned)
	}
}

// TestThrottledPausesAndSlowsEveryWorker: a 429 with Retry-After pauses
// every caller for it and halves the pace, down to a floor; calls that go
// through give it back a step at a time.
func TestThrottledPausesAndSlowsEveryWorker(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	clock := testkit.NewClock(time.Time{})
	l := New(rdb, "write", 10, Options{Now: clock.Now})
	other := New(rdb, "write", 10, Options{Now: clock.Now})
	if err := l.Throttled(t.Context(), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, d, _ := other.Take(t.Context(), 0); d < 2900*time.Millisecond || d > 3*time.Second {
		t.Errorf("after Retry-After 3s: wait %v", d)
	}
	if f, _ := rdb.Get(t.Context(), l.factorKey()).Float64(); f != 0.5 {
		t.Errorf("factor %v after one 429, want 0.5", f)
	}
	clock.Advance(3 * time.Second)
	if slot, _, _ := other.Take(t.Context(), 0); slot == nil {
		t.Fatal("no slot after the pause")
	}
	_, d, _ := other.Take(t.Context(), 0)
	if want := 2 * time.Second / 9; d < want-time.Millisecond || d > want+time.Millisecond {
		t.Errorf("the next slot after a halving is %v away, want twice the interval (%v)", d, want)
	}
	for range 10 {
		_ = l.Throttled(t.Context(), 0)
	}
	if f, _ := rdb.Get(t.Context(), l.factorKey()).Float64(); f != minFactor {
		t.Errorf("factor %v after many 429s, want the floor %v", f, minFactor)
	}
	other.Succeeded(t.Context())
	if f, _ := rdb.Get(t.Context(), l.factorKey()).Float64(); f != minFactor+factorStep {
		t.Errorf("factor %v after a success, want %v", f, minFactor+factorStep)
	}
}

func TestUnlimitedLetsEveryCallGo(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	var nilLimiter *Limiter
	for _, l := range []*Limiter{New(rdb, "read", 0, Options{}), nilLimiter} {
		for range 100 {
			if slot, d, err := l.Take(t.Context(), 0); slot != nil || d != 0 || err != nil {
				t.Fatalf("an unlimited limiter: %v %v %v", slot, d, err)
			}
		}
		if err := l.Throttled(t.Context(), time.Second); err != nil {
			t.Fatal(err)
		}
		l.Succeeded(t.Context())
	}
	if n, _ := rdb.DBSize(t.Context()).Result(); n != 0 {
		t.Errorf("an unlimited limiter wrote %d keys", n)
	}
}

// TestScopesAreApart: limiters of two regions (or projects) keep their own
// keys: one's slots used up, or paused after a 429, leave the other's be;
// two limiters of one scope share one pace.
func TestScopesAreApart(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	clock := testkit.NewClock(time.Time{})
	cn := New(rdb, "write", 1, Options{Now: clock.Now, Scope: Scope("cn-north-4", "p1")})
	cnAgain := New(rdb, "write", 1, Options{Now: clock.Now, Scope: Scope("cn-north-4", "p1")})
	eu := New(rdb, "write", 1, Options{Now: clock.Now, Scope: Scope("eu-west-101", "p2")})
	if got := cn.nextKey(); got != "{noderemover}:cce:cn-north-4:p1:write:next" {
		t.Errorf("key %s", got)
	}
	if got := New(rdb, "read", 1, Options{Scope: Scope("", "p1")}).pauseKey(); got != "{noderemover}:cce:default:p1:read:pause" {
		t.Errorf("key of no region %s", got)
	}
	if slot, _, err := cn.Take(t.Context(), 0); slot == nil || err != nil {
		t.Fatalf("first cn slot: %v", err)
	}
	if slot, d, _ := cnAgain.Take(t.Context(), 0); slot != nil || d <= 0 {
		t.Fatalf("a second cn slot at once: %v, wait %v; the scope's pace is shared", slot, d)
	}
	if slot, d, err := eu.Take(t.Context(), 0); slot == nil || err != nil {
		t.Fatalf("eu slot while cn's are used up: wait %v, %v", d, err)
	}
	if err := cn.Throttled(t.Context(), time.Minute); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	if slot, _, _ := eu.Take(t.Context(), 0); slot == nil {
		t.Error("cn's 429 paused eu")
	}
	if slot, _, _ := cn.Take(t.Context(), 0); slot != nil {
		t.Error("cn took a slot during its own pause")
	}
}
