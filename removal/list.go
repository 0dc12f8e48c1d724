package removal

// ListFilter selects requests for a list; zero fields select everything.
type ListFilter struct {
	State     State
	ClusterID string
	Limit     int // default DefaultListLimit, at most MaxListLimit
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
