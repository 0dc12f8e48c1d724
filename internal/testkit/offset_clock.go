package testkit

import (
	"sync"
	"time"
)

// OffsetClock is real time moved by an offset a test sets by hand: a clock
// that runs, for a fake whose jobs must end on their own, but can be put
// in the past (or the future) first.
type OffsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

// NewOffsetClock returns a clock offset from real time.
func NewOffsetClock(offset time.Duration) *OffsetClock { return &OffsetClock{offset: offset} }

// Now is real time plus the offset.
func (c *OffsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock on by d.
func (c *OffsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
