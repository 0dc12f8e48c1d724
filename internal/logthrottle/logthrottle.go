// Package logthrottle keeps a failing dependency from flooding the log. While
// Redis is down, asynq's loops and go-redis's pool each report the same
// failure every few seconds in every replica; a Throttle lets one line of a
// kind through per interval and has the next one say how many it held back.
package logthrottle

import (
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Every is the interval the processes use: a repeated line of one kind at
// most twice a minute.
const Every = 30 * time.Second

// maxKinds bounds the kinds a Throttle remembers; lines of further kinds
// share one budget.
const maxKinds = 256

// otherKind is the shared kind past maxKinds.
const otherKind = "\x00other"

// Throttle decides which lines of each kind are written. The zero value is
// not usable; call New. A Throttle is safe for concurrent use.
type Throttle struct {
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	kinds map[string]*kind
}

type kind struct {
	last time.Time // when a line of this kind was last let through
	held int       // lines held back since then
}

// New returns a Throttle that lets one line of a kind through per every.
// now is its clock; nil means time.Now.
func New(every time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{every: every, now: now, kinds: map[string]*kind{}}
}

// Allow reports whether a line of kind k may be written now and, when it
// may, how many lines of that kind were held back since the last one.
func (t *Throttle) Allow(k string) (ok bool, held int) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.kinds[k]
	if s == nil {
		if len(t.kinds) >= maxKinds {
			k = otherKind
			s = t.kinds[k]
		}
		if s == nil {
			t.kinds[k] = &kind{last: now}
			return true, 0
		}
	}
	if now.Sub(s.last) < t.every {
		s.held++
		return false, 0
	}
	held = s.held
	s.last, s.held = now, 0
	return true, held
}

// Log writes msg at level to l if a line of kind k may be written now,
// with the number held back since the last one as "repeated".
func (t *Throttle) Log(l zerolog.Logger, level zerolog.Level, k, msg string) {
	ok, held := t.Allow(k)
	if !ok {
		return
	}
	ev := l.WithLevel(level)
	if held > 0 {
		ev = ev.Int("repeated", held)
	}
	ev.Msg(msg)
}

// Kind is the kind of a log message: its text before the first ": ", where
// the varying detail (an address, an error) usually starts, at most 100
// bytes of it.
func Kind(msg string) string {
	if i := strings.Index(msg, ": "); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 100 {
		msg = msg[:100]
	}
	return msg
}
