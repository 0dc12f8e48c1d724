package removal

import "time"

// ListFilter selects requests for a list; zero fields select everything.
// A list is newest first; requests created in the same millisecond are in
// descending order of their ids.
type ListFilter struct {
	State     State
	ClusterID string
	Limit     int // default DefaultListLimit, at most MaxListLimit
	// Before pages: only the requests that come after this request in the
	// list (older ones). It is a request id, the last of the page before.
	Before string
	// CreatedAfter, when set, leaves out requests created before it.
	CreatedAfter time.Time
}

// Limits of a list.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// ValidState reports whether s names a request state.
func ValidState(s State) bool {
	switch s {
	case StateQueued, StateDraining, StateSubmitting, StatePolling, StateSucceeded, StateFailed, StateCancelled:
		return true
	}
	return false
}
