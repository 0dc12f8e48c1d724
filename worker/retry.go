package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// A handler ends in one of four ways: done (nil), retry later after a backoff
// (a plain error, counted as a failed attempt), wait (a *waitError: try again
// after a while, not a failure, no attempt used), or give up (an error
// wrapping asynq.SkipRetry: the task is archived with the reason).

// waitError asks asynq to run the task again after a while without counting
// a failure: a throttled answer, a busy cluster, a call still in flight.
// asynq keeps its text as the task's "last error", which asynqmon lists under
// that heading in its Retry tab; so the text says it is a wait, for what, and
// until when (retryDelay sets until before asynq reads the text).
type waitError struct {
	after   time.Duration
	backoff bool // wait at least the exponential backoff, too...
	waits   int  // ...for this many waits in a row (asynq does not count them)
	reason  string
	until   time.Time // when the task runs again, once retryDelay chose it
}

func (e *waitError) Error() string {
	msg := "waiting: " + e.reason
	switch {
	case !e.until.IsZero():
		msg += "; until " + e.until.UTC().Format(time.RFC3339)
	case e.after > 0:
		msg += fmt.Sprintf("; for at least %v", e.after)
	}
	return msg + " (a wait, not a failure: no attempt used)"
}

// shown is what a handler hands asynq: a wait wrapped in context reads as a
// wait first ("waiting: ..., in: the context"), anything else as it is.
func shown(err error) error {
	var w *waitError
	if err == nil || !errors.As(err, &w) || err == error(w) {
		return err
	}
	return &shownWait{wait: w, full: err}
}

// showWaits makes every wait a handler returns read as one (shown).
func showWaits(h func(context.Context, *asynq.Task) error) func(context.Context, *asynq.Task) error {
	return func(ctx context.Context, t *asynq.Task) error { return shown(h(ctx, t)) }
}

// shownWait is a wait wrapped in context, its text led by the wait's own.
type shownWait struct {
	wait *waitError
	full error
}

func (s *shownWait) Error() string { return s.wait.Error() + "; in: " + s.full.Error() }
func (s *shownWait) Unwrap() error { return s.full }

// wait returns a waitError of exactly d.
func wait(d time.Duration, format string, args ...any) error {
	return &waitError{after: d, reason: fmt.Sprintf(format, args...)}
}

// waitBackoff returns a waitError of at least d and at least the backoff
// after the given number of waits in a row.
func waitBackoff(d time.Duration, waits int, format string, args ...any) error {
	return &waitError{after: d, backoff: true, waits: waits, reason: fmt.Sprintf(format, args...)}
}

// waitFor waits d, rounded up to whole seconds as asynq schedules, so that
// the task does not come back before d has passed.
func waitFor(d time.Duration, format string, args ...any) error {
	return wait(d.Truncate(time.Second)+time.Second, format, args...)
}

// giveUp archives the task: nothing more can come of running it again.
func giveUp(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, asynq.SkipRetry)...)
}

// outcomeError archives a task to show an outcome the records hold already
// (a CCE job that failed nodes): worth a warning, not an error of ours.
type outcomeError struct{ err error }

func (e *outcomeError) Error() string { return e.err.Error() }
func (e *outcomeError) Unwrap() error { return e.err }

// archiveOutcome gives up on a task to list an outcome in asynqmon's
// Archived tab.
func archiveOutcome(format string, args ...any) error {
	return &outcomeError{err: giveUp(format, args...)}
}

// isFailure tells asynq which errors use up an attempt.
func isFailure(err error) bool {
	var w *waitError
	return err != nil && !errors.As(err, &w)
}

// Backoff is exponential backoff with full jitter: the n-th retry (from 0)
// waits a random time between Min and min(Max, Min·2ⁿ).
type Backoff struct {
	Min, Max time.Duration
}

// Delay returns the wait before retry n.
func (b Backoff) Delay(n int) time.Duration {
	ceiling := b.Max
	if n < 62 && b.Min<<n > 0 && b.Min<<n < b.Max {
		ceiling = b.Min << n
	}
	if ceiling <= b.Min {
		return b.Min
	}
	return b.Min + rand.N(ceiling-b.Min+1)
}

// retryDelay is asynq's RetryDelayFunc: a waitError's own delay (raised to
// the backoff when asked), the backoff otherwise.
func (b Backoff) retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var w *waitError
	if errors.As(err, &w) {
		d := w.after
		if w.backoff {
			d = max(w.after, b.Delay(max(n, w.waits)))
		}
		w.until = time.Now().Add(d) // asynq's clock, as it schedules the retry
		return d
	}
	return b.Delay(n)
}
