package ccetest

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// window is the API gateway's flow control as its 429 describes it
// ("limit:N, time:1 second"): at most limit calls in any window, on the
// fake's clock. A rate of r per second is limit max(1, ⌊r⌋) per limit/r
// seconds, so 50/s is 50 calls in any second and 0.5/s one call in any two
// seconds. A client that paces evenly below the rate never meets it; one
// that bursts past the limit does at once.
type window struct {
	rate   float64 // calls per second; 0 is unlimited
	limit  int     // calls allowed in any span of length
	length time.Duration
	calls  []time.Time // the last limit accepted calls, oldest first
}

func newWindow(rate float64) window {
	if rate <= 0 {
		return window{}
	}
	limit := max(1, int(math.Floor(rate)))
	return window{
		rate:   rate,
		limit:  limit,
		length: time.Duration(float64(limit) / rate * float64(time.Second)),
	}
}

// take accepts a call if fewer than limit were accepted in the window
// ending now, else says how long until the oldest of them leaves it.
func (w *window) take(now time.Time) (ok bool, wait time.Duration) {
	if w.rate <= 0 {
		return true, 0
	}
	if len(w.calls) < w.limit {
		w.calls = append(w.calls, now)
		return true, 0
	}
	if free := w.calls[0].Add(w.length); now.Before(free) {
		return false, free.Sub(now)
	}
	copy(w.calls, w.calls[1:])
	w.calls[len(w.calls)-1] = now
	return true, 0
}

// throttle applies WriteRate or ReadRate to a call, answering like the API
// gateway when over the limit.
func (f *Fake) throttle(op Op, now time.Time) (answer, bool) {
	w := &f.reads
	if op == OpRemoveNodes {
		w = &f.writes
	}
	ok, wait := w.take(now)
	if ok {
		return answer{}, false
	}
	a := gatewayError(http.StatusTooManyRequests, "APIG.0308",
		fmt.Sprintf("The throttling threshold has been reached: policy user over ratelimit, limit:%d, time:%s", w.limit, spell(w.length)))
	// Round up to the millisecond so that waiting that long is enough.
	secs := math.Ceil(wait.Seconds()*1000) / 1000
	a.header.Set("Retry-After", strconv.FormatFloat(secs, 'f', -1, 64))
	return a, true
}

// spell writes a window length the way the gateway does: "1 second",
// "1 minute", else in seconds.
func spell(d time.Duration) string {
	switch d {
	case time.Second:
		return "1 second"
	case time.Minute:
		return "1 minute"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " seconds"
}
