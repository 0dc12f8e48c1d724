package worker

import (
	"context"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/redistest"
)

func TestLimiter(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	l := newLimiter(rdb, "write", 10, clock)
	other := newLimiter(rdb, "write", 10, clock) // another worker process

	if d, err := l.take(ctx); err != nil || d != 0 {
		t.Fatalf("first call: wait %v, %v", d, err)
	}
	d, err := other.try(ctx)
	if err != nil || d <= 0 || d > 200*time.Millisecond {
		t.Fatalf("a second call at once from another worker: wait %v (%v), want up to one interval (~105ms)", d, err)
	}
	// take waits out a wait shorter than asynq's one-second resolution.
	if d, err := other.take(ctx); err != nil || d != 0 {
		t.Fatalf("take: wait %v (%v), want the call after a short wait in the handler", d, err)
	}

	// A 429 with Retry-After pauses everyone, and halves the rate.
	if err := l.throttled(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if d, _ := other.take(ctx); d < 2900*time.Millisecond || d > 3*time.Second {
		t.Errorf("after Retry-After 3s: wait %v", d)
	}
	if f, _ := rdb.Get(ctx, factorKey("write")).Float64(); f != 0.5 {
		t.Errorf("factor %v after one 429, want 0.5", f)
	}
	for range 10 {
		_ = l.throttled(ctx, 0)
	}
	if f, _ := rdb.Get(ctx, factorKey("write")).Float64(); f != minFactor {
		t.Errorf("factor %v after many 429s, want the floor %v", f, minFactor)
	}

	// Calls that go through give the rate back, a step at a time.
	now = now.Add(time.Hour) // past the pause
	if err := l.gcra.Reset(ctx, limitKey("write")); err != nil {
		t.Fatal(err)
	}
	if d, _ := l.take(ctx); d != 0 {
		t.Fatalf("after the pause: wait %v", d)
	}
	l.succeeded(ctx)
	if f, _ := rdb.Get(ctx, factorKey("write")).Float64(); f != minFactor+factorStep {
		t.Errorf("factor %v after a success, want %v", f, minFactor+factorStep)
	}

	unlimited := newLimiter(rdb, "read", 0, clock)
	for range 100 {
		if d, err := unlimited.take(ctx); d != 0 || err != nil {
			t.Fatal("an unlimited limiter waited")
		}
	}
}
