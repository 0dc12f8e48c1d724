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
	// NodeDrain is how one node's drain stands.
	NodeDrain = removal.NodeDrain
	// Drain is a request's drain settings as resolved and shown in its status.
	Drain = removal.Drain
	// DrainOptions is what a request asks of its drain (every member optional).
	DrainOptions = removal.DrainAsk
	// DrainDefaults are the fleet's drain settings (DRAIN, DRAIN_TIMEOUT, ...,
	// KUBE_ACCESS), applied to the members a request leaves out.
	DrainDefaults = removal.DrainDefaults
	// Duration is a duration written in JSON as a string ("10m").
	Duration = removal.Duration
)

// The states of a request.
const (
	StateQueued     = removal.StateQueued
	StateDraining   = removal.StateDraining
	StateSubmitting = removal.StateSubmitting
	StatePolling    = removal.StatePolling
	StateSucceeded  = removal.StateSucceeded
	StateFailed     = removal.StateFailed
	StateCancelled  = removal.StateCancelled
)

// The states of a node.
const (
	NodePending  = removal.NodePending
	NodeDraining = removal.NodeDraining
	NodeDrained  = removal.NodeDrained
	NodeRemoving = removal.NodeRemoving
	NodeRemoved  = removal.NodeRemoved
	NodeFailed   = removal.NodeFailed
)

// Drain settings.
const (
	OnTimeoutFail       = removal.OnTimeoutFail
	OnTimeoutRemove     = removal.OnTimeoutRemove
	KubeAccessNone      = removal.KubeAccessNone
	KubeAccessCCE       = removal.KubeAccessCCE
	KubeAccessDir       = removal.KubeAccessDir
	DefaultDrainTimeout = removal.DefaultDrainTimeout
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

// ValidClusterID reports whether id can name a cluster.
func ValidClusterID(id string) error { return removal.ValidClusterID(id) }

// SafeFieldName keeps a field name that came from a caller fit to be sent
// back in an InvalidError.
func SafeFieldName(name string) string { return removal.SafeFieldName(name) }
