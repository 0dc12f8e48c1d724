package enqueuer

import "github.com/noderemover/noderemover/removal"

// What a request's status says; the types are package removal's.
type (
	// Status is what a producer reads about a request.
	Status = removal.Status
	// State is where a request stands.
	State = removal.State
	// Node is one node's outcome inside a request.
	Node = removal.Node
	// NodeState is where one node of a request stands.
	NodeState = removal.NodeState
	// ListFilter selects requests for List; zero fields select everything.
	ListFilter = removal.ListFilter
)

// The states of a request.
const (
	StateQueued     = removal.StateQueued
	StateSubmitting = removal.StateSubmitting
	StatePolling    = removal.StatePolling
	StateSucceeded  = removal.StateSucceeded
	StateFailed     = removal.StateFailed
	StateCancelled  = removal.StateCancelled
)

// The states of a node.
const (
	NodePending  = removal.NodePending
	NodeRemoving = removal.NodeRemoving
	NodeRemoved  = removal.NodeRemoved
	NodeFailed   = removal.NodeFailed
)

// Limits.
const (
	DefaultListLimit = removal.DefaultListLimit
	MaxListLimit     = removal.MaxListLimit
	MaxNodes         = removal.MaxNodes // nodes in one request
)

// ValidState reports whether s names a request state.
func ValidState(s State) bool { return removal.ValidState(s) }

// ValidRequestID says whether id can name a request, and if not, why.
func ValidRequestID(id string) error { return removal.ValidRequestID(id) }

// SafeFieldName keeps a field name that came from a caller fit to be sent
// back in an InvalidError.
func SafeFieldName(name string) string { return removal.SafeFieldName(name) }
