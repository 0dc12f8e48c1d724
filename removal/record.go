package removal

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// State is where a request stands.
type State string

const (
	StateQueued     State = "queued"     // accepted, waiting for a worker (or, drained, for a RemoveNode call)
	StateDraining   State = "draining"   // its nodes are being drained through Kubernetes
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
	NodeDraining NodeState = "draining" // cordoned; its Pods are being evicted
	NodeDrained  NodeState = "drained"  // drained; waiting for its RemoveNode call
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
	// Drain is how the node's drain stands, when the request drains.
	Drain *NodeDrain `json:"drain,omitempty"`
}

func (n Node) clone() Node {
	n.Drain = n.Drain.clone()
	return n
}

func (n Node) equal(o Node) bool {
	return n.UID == o.UID && n.State == o.State && n.Reason == o.Reason && n.Drain.equal(o.Drain)
}

func cloneNodes(nodes []Node) []Node {
	if nodes == nil {
		return nil
	}
	out := make([]Node, len(nodes))
	for i, n := range nodes {
		out[i] = n.clone()
	}
	return out
}

// Record follows one request from enqueue to its outcome. It is the source
// of truth: asynq only carries the work.
type Record struct {
	RequestID string `json:"request_id"`
	State     State  `json:"state"`
	ProjectID string `json:"project_id"`
	ClusterID string `json:"cluster_id"`
	// Region is the CCE region whose endpoint serves the request; "" is
	// the one endpoint of a fleet with no default region.
	Region    string    `json:"region,omitempty"`
	JobID     string    `json:"job_id"`
	Nodes     []Node    `json:"nodes"`
	Attempts  int       `json:"attempts"`
	Error     string    `json:"error"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Drain: the request's nodes are drained before CCE removes them.
	Drain *Drain `json:"drain,omitempty"`
	// Waiting says why the request is held back (a pause), "" when it is not.
	Waiting string `json:"waiting"`
	// Callback is where its events are POSTed; nil for none.
	Callback *Callback `json:"callback,omitempty"`

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
	// DrainStartedAt is when the drain began (its timeout runs from then).
	DrainStartedAt *time.Time `json:"drain_started_at,omitempty"`
	// DrainMovedAt is when the drain last moved on (an eviction accepted, a
	// node drained): the worker looks again sooner after progress.
	DrainMovedAt *time.Time `json:"drain_moved_at,omitempty"`
	// Kube names each node's Kubernetes Node, by uid, once the drain found it.
	Kube map[string]string `json:"kube,omitempty"`
	// Uncordon lists the Kubernetes Nodes this request cordoned that are to
	// be made schedulable again: their removal ended before CCE took them.
	Uncordon []string `json:"uncordon,omitempty"`
}

// Status is what producers read about a request: the record without the
// worker's bookkeeping and without any login material.
type Status struct {
	RequestID string    `json:"request_id"`
	State     State     `json:"state"`
	ProjectID string    `json:"project_id"`
	ClusterID string    `json:"cluster_id"`
	Region    string    `json:"region,omitempty"`
	JobID     string    `json:"job_id"`
	Nodes     []Node    `json:"nodes"`
	Attempts  int       `json:"attempts"`
	Error     string    `json:"error"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Drain     *Drain    `json:"drain,omitempty"`
	Waiting   string    `json:"waiting"`
	// CallbackURL and CallbackEvents say where the request's events are
	// POSTed, and which (absent: none).
	CallbackURL    string `json:"callback_url,omitempty"`
	CallbackEvents string `json:"callback_events,omitempty"`
}

// Status returns the producer's view of the record.
func (r *Record) Status() Status {
	st := Status{
		RequestID: r.RequestID,
		State:     r.State,
		ProjectID: r.ProjectID,
		ClusterID: r.ClusterID,
		Region:    r.Region,
		JobID:     r.JobID,
		Nodes:     cloneNodes(r.Nodes),
		Attempts:  r.Attempts,
		Error:     r.Error,
		CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt,
		Drain:     r.Drain.Clone(),
		Waiting:   r.Waiting,
	}
	if r.Callback != nil {
		st.CallbackURL, st.CallbackEvents = r.Callback.URL, r.Callback.Events
	}
	return st
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
		Region:      req.Region,
		Nodes:       nodes,
		CreatedAt:   now,
		UpdatedAt:   now,
		Login:       req.Login,
		Fingerprint: req.Fingerprint(),
		Drain:       req.Drain.Clone(),
		Callback:    req.Callback.clone(),
	}
}

// Clone returns a copy of the record that shares nothing with it.
func (r *Record) Clone() *Record {
	c := *r
	c.Nodes = cloneNodes(r.Nodes)
	c.SubmittingAt, c.SubmittedAt, c.FinishedAt = cloneTime(r.SubmittingAt), cloneTime(r.SubmittedAt), cloneTime(r.FinishedAt)
	c.DrainStartedAt, c.DrainMovedAt, c.Drain = cloneTime(r.DrainStartedAt), cloneTime(r.DrainMovedAt), r.Drain.Clone()
	c.Uncordon = append([]string(nil), r.Uncordon...)
	c.Callback = r.Callback.clone()
	if r.Kube != nil {
		c.Kube = make(map[string]string, len(r.Kube))
		for k, v := range r.Kube {
			c.Kube[k] = v
		}
	}
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
	return r.RequestID == o.RequestID && r.State == o.State && r.ProjectID == o.ProjectID && r.ClusterID == o.ClusterID && r.Region == o.Region &&
		r.JobID == o.JobID && slices.EqualFunc(r.Nodes, o.Nodes, Node.equal) && r.Attempts == o.Attempts && r.Error == o.Error &&
		r.CreatedAt.Equal(o.CreatedAt) && r.UpdatedAt.Equal(o.UpdatedAt) && r.Login == o.Login &&
		r.Fingerprint == o.Fingerprint && r.BatchID == o.BatchID && r.Solo == o.Solo &&
		sameTime(r.SubmittingAt, o.SubmittingAt) && sameTime(r.SubmittedAt, o.SubmittedAt) && sameTime(r.FinishedAt, o.FinishedAt) &&
		r.Drain.equal(o.Drain) && r.Waiting == o.Waiting && sameTime(r.DrainStartedAt, o.DrainStartedAt) && sameTime(r.DrainMovedAt, o.DrainMovedAt) && maps.Equal(r.Kube, o.Kube) &&
		slices.Equal(r.Uncordon, o.Uncordon) && r.Callback.key() == o.Callback.key()
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
// A node this request cordoned that fails before CCE took it is to be
// uncordoned; a node CCE removed after its drain timed out says so.
func (r *Record) SetNode(uid string, s NodeState, reason string) {
	n := r.node(uid)
	if n == nil {
		return
	}
	if s == NodeFailed && n.State != NodeRemoving {
		r.release(uid)
	}
	if s == NodeRemoved && reason == "" && n.Drain != nil && n.Drain.TimedOut {
		reason = fmt.Sprintf("removed by CCE with %d Pods still on it: the drain timed out (on_timeout %s)", n.Drain.PodsLeft, OnTimeoutRemove)
	}
	n.State, n.Reason = s, reason
}

// keepCordoned takes node uid's Kubernetes Node off the list to uncordon:
// CCE took the node after all.
func (r *Record) keepCordoned(uid string) {
	if r == nil {
		return
	}
	if name := r.Kube[uid]; name != "" {
		r.Uncordon = slices.DeleteFunc(r.Uncordon, func(n string) bool { return n == name })
		if len(r.Uncordon) == 0 {
			r.Uncordon = nil
		}
	}
}

// release notes that node uid's Kubernetes Node, if this request found it,
// is to be uncordoned (if and only if this request cordoned it: the worker
// checks the Node's mark).
func (r *Record) release(uid string) {
	if name := r.Kube[uid]; name != "" && !slices.Contains(r.Uncordon, name) {
		r.Uncordon = append(r.Uncordon, name)
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
	for _, uid := range r.OpenNodes() {
		r.SetNode(uid, NodeFailed, reason)
	}
	r.Error, r.Waiting = reason, ""
	r.State = StateFailed
	r.FinishedAt = &now
}
