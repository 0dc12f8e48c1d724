package worker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestBackoffStaysWithinFullJitterBounds(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	for n := range 12 {
		ceiling := min(b.Max, b.Min<<n)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := b.Delay(n)
			if d < b.Min || d > ceiling {
				t.Fatalf("retry %d: delay %v outside [%v, %v]", n, d, b.Min, ceiling)
			}
			seen[d] = true
		}
		if n > 0 && len(seen) < 10 {
			t.Errorf("retry %d: only %d distinct delays in 200; not jittered", n, len(seen))
		}
	}
	if d := (Backoff{Min: time.Second, Max: time.Second}).Delay(5); d != time.Second {
		t.Errorf("min == max: delay %v", d)
	}
	if d := b.Delay(1000); d > b.Max {
		t.Errorf("huge n overflows: %v", d)
	}
}

func TestRetryDelay(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: 200 * time.Millisecond}
	cases := []struct {
		name   string
		err    error
		lo, hi time.Duration
	}{
		{"PlainErrorBacksOff", errors.New("boom"), b.Min, b.Max},
		{"WaitIsExact", wait(3*time.Second, "busy"), 3 * time.Second, 3 * time.Second},
		{"WrappedWait", fmt.Errorf("x: %w", wait(time.Second, "busy")), time.Second, time.Second},
		{"RetryAfterAboveBackoff", waitBackoff(5*time.Second, 0, "throttled"), 5 * time.Second, 5 * time.Second},
		{"NoRetryAfterUsesBackoff", waitBackoff(0, 0, "throttled"), b.Min, b.Max},
		{"RepeatedWaitsGrow", waitBackoff(0, 10, "throttled"), b.Min, b.Max},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := b.retryDelay(0, tc.err, nil)
			if d < tc.lo || d > tc.hi {
				t.Errorf("delay %v, want within [%v, %v]", d, tc.lo, tc.hi)
			}
		})
	}
}

func TestIsFailure(t *testing.T) {
	if isFailure(nil) || isFailure(wait(time.Second, "x")) || isFailure(fmt.Errorf("a: %w", waitBackoff(0, 0, "y"))) {
		t.Error("a wait counted as a failure")
	}
	if !isFailure(errors.New("x")) || !isFailure(giveUp("bad")) {
		t.Error("a failure not counted")
	}
	if !errors.Is(giveUp("bad %d", 1), asynq.SkipRetry) {
		t.Error("giveUp does not skip retries")
	}
}

func TestPollDelayGrowsToTheMaximum(t *testing.T) {
	w := &Server{cfg: Config{PollIntervalMin: 10 * time.Second, PollIntervalMax: 20 * time.Second, PollFirstDelay: 90 * time.Second}}
	want := []time.Duration{90 * time.Second, 10 * time.Second, 15 * time.Second, 20 * time.Second, 20 * time.Second}
	for n, d := range want {
		if got := w.pollDelay(n); got != d {
			t.Errorf("poll %d: %v, want %v", n, got, d)
		}
	}
	if got := w.pollDelay(10000); got != 20*time.Second {
		t.Errorf("poll 10000: %v", got)
	}
}

// TestWaitSaysItIsAWait: asynqmon lists a wait under "Last Error" in its
// Retry tab; what it shows must read as a wait: it starts "waiting: ", says
// for what and until when, and that no attempt is used — also when the
// handler returned the wait wrapped in more context.
func TestWaitSaysItIsAWait(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: 200 * time.Millisecond}
	for name, err := range map[string]error{
		"Plain":   wait(3*time.Second, "cluster c1 is busy"),
		"Wrapped": shown(fmt.Errorf("request r: %w", wait(3*time.Second, "cluster c1 is busy"))),
		"Backoff": waitBackoff(0, 2, "cluster c1 is busy"),
	} {
		t.Run(name, func(t *testing.T) {
			before := time.Now().UTC()
			d := b.retryDelay(0, err, nil)
			msg := err.Error() // asynq reads it after RetryDelayFunc, as here
			if !strings.HasPrefix(msg, "waiting: ") || !strings.Contains(msg, "cluster c1 is busy") ||
				!strings.Contains(msg, "not a failure") {
				t.Errorf("%q does not read as a wait", msg)
			}
			until := before.Add(d).Truncate(time.Second).Format("15:04:05")
			if !strings.Contains(msg, "until "+before.Format("2006-01-02")) || !strings.Contains(msg, until[:5]) {
				t.Errorf("%q does not say until when (about %s)", msg, until)
			}
			if isFailure(err) {
				t.Error("counted as a failure")
			}
		})
	}
	if e := errors.New("boom"); shown(e) != e {
		t.Error("shown changes a failure")
	}
}
