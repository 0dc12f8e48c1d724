// Package testkit is the one kit every package's tests share: a TestMain
// that fails the package when a goroutine outlives its tests, one way to
// wait for a condition, a clock a test steps by hand, and a buffer that logs
// and processes write to while the test reads it. It is for tests
// only.
package testkit

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Main runs the package's tests and then fails when goroutines they
// started are still running (goleak). Idle keep-alive connections of HTTP
// clients are not leaks: they close on their own. m is a *testing.M, or
// one wrapped to tear shared fixtures down after its Run and before the
// check (kubetest.StopSharedAfter).
func Main(m goleak.TestingM, opts ...goleak.Option) {
	goleak.VerifyTestMain(m, append([]goleak.Option{
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	}, opts...)...)
}

// WaitFor polls cond until it holds, failing the test when limit passes
// first. It waits for a condition, never for time itself.
func WaitFor(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond) // the polling interval, not a wait for time to pass
	}
}

// Clock is a clock that moves only when told to; its Now fits every
// Options.Now and Config.Now hook. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t (a fixed date when t is zero).
func NewClock(t time.Time) *Clock {
	if t.IsZero() {
		t = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	}
	return &Clock{t: t}
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Quiet is a logger that says nothing; it fits asynq.Logger, for servers a
// test or benchmark runs beside the one it looks at.
type Quiet struct{}

func (Quiet) Debug(...any) {}
func (Quiet) Info(...any)  {}
func (Quiet) Warn(...any)  {}
func (Quiet) Error(...any) {}
func (Quiet) Fatal(...any) {}
