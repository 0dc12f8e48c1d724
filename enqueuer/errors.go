package enqueuer

import (
	"context"
	"errors"
	"fmt"

	"github.com/noderemover/noderemover/internal/redisconn"
	"github.com/noderemover/noderemover/removal"
)

// What callers branch on. Each type is the one package removal defines;
// producers need import only this package.
type (
	// InvalidError names the field of a request that is wrong and why
	// (errors.Is(err, ErrInvalid)).
	InvalidError = removal.InvalidError
	// NodeBusyError names a node held by another unfinished request and
	// that request (errors.Is(err, ErrNodeBusy)).
	NodeBusyError = removal.NodeBusyError
	// NotCancellableError says why a request cannot be cancelled, and names
	// its CCE job (errors.Is(err, ErrNotCancellable)).
	NotCancellableError = removal.NotCancellableError
)

// Conditions callers branch on with errors.Is.
var (
	ErrInvalid        = removal.ErrInvalid
	ErrNodeBusy       = removal.ErrNodeBusy
	ErrConflict       = removal.ErrConflict
	ErrNotFound       = removal.ErrNotFound
	ErrNotCancellable = removal.ErrNotCancellable
	// ErrUnavailable matches every error of a call that Redis did not
	// answer (down, unreachable, timed out, failing over); the message says
	// what was left behind, which is nothing unless it says otherwise. Any
	// other error is none of these: a bug or a corrupt record, to be
	// reported, not retried.
	ErrUnavailable = errors.New("redis unavailable")
)

// unavailable marks err as ErrUnavailable when it is Redis or the network
// failing, saying what it leaves behind; any other error comes back as it
// is.
func unavailable(err error, left string) error {
	if err == nil || errors.Is(err, context.Canceled) || !redisconn.Unavailable(err) {
		return err
	}
	if left == "" {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("%w (%s): %w", ErrUnavailable, left, err)
}

// Leftovers, for unavailable.
const (
	leftNothing      = "nothing was stored; enqueueing the same request id again is safe"
	leftNothingRead  = "" // a read leaves nothing
	leftNotCancelled = "the request is as it was"
	// A pause or resume either happened or did not; doing it again is safe.
	leftNothingChanged = "the pause switch may or may not have moved; doing it again is safe"
	// An acknowledgement either happened or did not; doing it again is safe.
	leftAcknowledged = "the loss may or may not be acknowledged; doing it again is safe"
)
