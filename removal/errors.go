package removal

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound: no record (or batch) with that id, or it expired.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request id is taken by a request that asks for something else.
	ErrConflict = errors.New("request id already used for a different request")
	// ErrNodeBusy matches every *NodeBusyError.
	ErrNodeBusy = errors.New("node already in an unfinished request")
)

// NodeBusyError names the node and the unfinished request that holds it.
type NodeBusyError struct {
	Node      string
	RequestID string
	State     State
}

func (e *NodeBusyError) Error() string {
	return fmt.Sprintf("node %s is already in unfinished request %s (%s)", e.Node, e.RequestID, e.State)
}

// Is makes errors.Is(err, ErrNodeBusy) true.
func (e *NodeBusyError) Is(target error) bool { return target == ErrNodeBusy }
