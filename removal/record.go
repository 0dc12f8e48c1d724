package removal

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is where a request stands.
type State string

const (
	StateQueued     State = "queued"     // accepted, waiting for a worker
	StateSubmitting State = "submitting" // in a batch on its way to CCE
	StatePolling    State = "polling"    // CCE accepted the removal; its job runs
	StateSucceeded  State = "succeeded"  // every node removed
	StateFailed     State = "failed"     // at least one node not removed; see error and nodes
	StateCancelled  State = "cancelled"  // cancelled before it reached CCE
)

// Final reports whether nothing will change the request any more.
func (s State) Final() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// NodeState is where one node of a request stands.
type NodeState string

const (
	NodePending  NodeState = "pending"  // not sent to CCE yet
	NodeRemoving NodeState = "removing" // in a CCE job
	NodeRemoved  NodeState = "removed"  // gone from the cluster
	NodeFailed   NodeState = "failed"   // not removed; reason says why
)

// Final reports whether the node's outcome is known.
func (s NodeState) Final() bool { return s == NodeRemoved || s == NodeFailed }

// Node is one node's outcome inside a request.
type Node struct {
	UID    string    `json:"uid"`
	State  NodeState `json:"state"`
	Reason string    `json:"reason"`
}

// Record follows one request from enqueue to its outcome. It is the source
// of truth: asynq only carries the work.
type Record struct {
	RequestID string    `json:"request_id"`
	State     State     `json:"state"`
	ProjectID string    `json:"project_id"`
	ClusterID string    `json:"cluster_id"`
	JobID     string    `json:"job_id"`
	Nodes     []Node    `json:"nodes"`
	Attempts  int       `json:"attempts"`
	Error     string    `json:"error"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Kept for the worker, never shown in a Status.
	Login       Login  `json:"login"`
	Fingerprint string `json:"fingerprint"`
	BatchID     string `json:"batch_id,omitempty"`
	// Solo keeps the request out of merged calls: a merged call with it was
	// refused without CCE naming a node.
	Solo         bool       `json:"solo,omitempty"`
	SubmittingAt *time.Time `json:"submitting_at,omitempty"` // when a worker took it into a batch
	SubmittedAt  *time.Time `json:"submitted_at,omitempty"`  // when CCE accepted the removal
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
}

// Status is what producers read about a request: the record without the
// worker's bookkeeping and without any login material.
type Status struct {
	RequestID string    `json:"request_id"`
	State     State     `json:"state"`
	ProjectID string    `json:"project_id"`
	ClusterID string    `json:"cluster_id"`
	JobID     string    `json:"job_id"`
	Nodes     []Node    `json:"nodes"`
	Attempts  int       `json:"attempts"`
	Error     string    `json:"error"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Status returns the producer's view of the record.
func (r *Record) Status() Status {
	return Status{
		RequestID: r.RequestID,
		State:     r.State,
		ProjectID: r.ProjectID,
		ClusterID: r.ClusterID,
		JobID:     r.JobID,
		Nodes:     append([]Node(nil), r.Nodes...),
		Attempts:  r.Attempts,
		Error:     r.Error,
		CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt,
	}
}

// NewRecord starts the record of a validated request.
func NewRecord(req Request, now time.Time) *Record {
	nodes := make([]Node, len(req.Nodes))
	for i, uid := range req.Nodes {
		nodes[i] = Node{UID: uid, State: NodePending}
	}
	return &Record{
		RequestID:   req.ID,
		State:       StateQueued,
		ProjectID:   req.ProjectID,
		ClusterID:   req.ClusterID,
		Nodes:       nodes,
		CreatedAt:   now,
		UpdatedAt:   now,
		Login:       req.Login,
		Fingerprint: req.Fingerprint(),
	}
}

// Clone returns a copy of the record that shares nothing with it.
func (r *Record) Clone() *Record {
	c := *r
	c.Nodes = append([]Node(nil), r.Nodes...)
	c.SubmittingAt, c.SubmittedAt, c.FinishedAt = cloneTime(r.SubmittingAt), cloneTime(r.SubmittedAt), cloneTime(r.FinishedAt)
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// same reports whether two records say the same, field by field.
func (r *Record) same(o *Record) bool {
	return r.RequestID == o.RequestID && r.State == o.State && r.ProjectID == o.ProjectID && r.ClusterID == o.ClusterID &&
		r.JobID == o.JobID && slices.Equal(r.Nodes, o.Nodes) && r.Attempts == o.Attempts && r.Error == o.Error &&
		r.CreatedAt.Equal(o.CreatedAt) && r.UpdatedAt.Equal(o.UpdatedAt) && r.Login == o.Login &&
		r.Fingerprint == o.Fingerprint && r.BatchID == o.BatchID && r.Solo == o.Solo &&
		sameTime(r.SubmittingAt, o.SubmittingAt) && sameTime(r.SubmittedAt, o.SubmittedAt) && sameTime(r.FinishedAt, o.FinishedAt)
}

func sameTime(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }

// node returns the node with uid, or nil.
func (r *Record) node(uid string) *Node {
	for i := range r.Nodes {
		if r.Nodes[i].UID == uid {
			return &r.Nodes[i]
		}
	}
	return nil
}

// SetNode records one node's state and reason; unknown uids are ignored.
func (r *Record) SetNode(uid string, s NodeState, reason string) {
	if n := r.node(uid); n != nil {
		n.State, n.Reason = s, reason
	}
}

// OpenNodes returns the uids of nodes whose outcome is not known yet.
func (r *Record) OpenNodes() []string {
	var out []string
	for _, n := range r.Nodes {
		if !n.State.Final() {
			out = append(out, n.UID)
		}
	}
	return out
}

// Settle ends the request once every node has an outcome: succeeded when all
// were removed, failed otherwise with an error that counts and names them.
// It reports whether the request is now final.
func (r *Record) Settle(now time.Time) bool {
	if r.State.Final() || len(r.OpenNodes()) > 0 {
		return r.State.Final()
	}
	var failed []Node
	for _, n := range r.Nodes {
		if n.State == NodeFailed {
			failed = append(failed, n)
		}
	}
	r.FinishedAt = &now
	if len(failed) == 0 {
		r.State, r.Error = StateSucceeded, ""
		return true
	}
	r.State = StateFailed
	r.Error = failureSummary(failed, len(r.Nodes))
	return true
}

// failureSummary says which nodes failed and why, briefly: one reason shared
// by all is given once, otherwise the first few are named.
func failureSummary(failed []Node, total int) string {
	same := true
	for _, n := range failed[1:] {
		same = same && n.Reason == failed[0].Reason
	}
	if same && len(failed) == total {
		return failed[0].Reason
	}
	head := fmt.Sprintf("%d of %d nodes not removed: ", len(failed), total)
	if same {
		return head + failed[0].Reason
	}
	const named = 3
	var parts []string
	for i, n := range failed {
		if i == named {
			parts = append(parts, fmt.Sprintf("and %d more", len(failed)-named))
			break
		}
		parts = append(parts, n.UID+": "+n.Reason)
	}
	return head + strings.Join(parts, "; ")
}

// Fail ends the request failed with reason; every node without an outcome
// fails with the same reason.
func (r *Record) Fail(reason string, now time.Time) {
	for i := range r.Nodes {
		if !r.Nodes[i].State.Final() {
			r.Nodes[i].State, r.Nodes[i].Reason = NodeFailed, reason
		}
	}
	r.Error = reason
	r.State = StateFailed
	r.FinishedAt = &now
}
