package ccetest

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// bucket is a token bucket of burst 1 on the fake's clock.
type bucket struct {
	rate   float64 // tokens per second; 0 is unlimited
	tokens float64
	last   time.Time
	primed bool
}

// take spends a token if there is one, else says how long until there is.
func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	if b.rate <= 0 {
		return true, 0
	}
	switch {
	case !b.primed:
		b.tokens, b.last, b.primed = 1, now, true
	case now.After(b.last):
		b.tokens = min(1, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	const epsilon = 1e-9 // float rounding must not cost a caller who waited exactly
	if b.tokens >= 1-epsilon {
		b.tokens = max(0, b.tokens-1)
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// throttle applies WriteRate or ReadRate to a call, answering like the API
// gateway when over the limit.
func (f *Fake) throttle(op Op, now time.Time) (answer, bool) {
	b := &f.reads
	if op == OpRemoveNodes {
		b = &f.writes
	}
	ok, wait := b.take(now)
	if ok {
		return answer{}, false
	}
	a := gatewayError(http.StatusTooManyRequests, "APIG.0308",
		fmt.Sprintf("The throttling threshold has been reached: policy user over ratelimit, limit:%g, time:1 second", b.rate))
	// Round up to the millisecond so that waiting that long is enough.
	secs := math.Ceil(wait.Seconds()*1000) / 1000
	a.header.Set("Retry-After", strconv.FormatFloat(secs, 'f', -1, 64))
	return a, true
}
