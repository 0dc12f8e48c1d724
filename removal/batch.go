package removal

import "time"

// BatchState is where one RemoveNode call stands.
type BatchState string

const (
	// BatchReady: formed, not sent. Nothing has reached CCE.
	BatchReady BatchState = "ready"
	// BatchSending: the intent to send is recorded. The call is under way or
	// its answer was lost, so CCE may have accepted it: whoever finds a batch
	// in this state after SendingUntil asks CCE about each node before
	// anything is sent again.
	BatchSending BatchState = "sending"
	// BatchAccepted: CCE accepted the call and runs JobID.
	BatchAccepted BatchState = "accepted"
	// BatchDone: every node of the batch has an outcome.
	BatchDone BatchState = "done"
)

// Member is one request's part of a batch.
type Member struct {
	RequestID string   `json:"request_id"`
	Nodes     []string `json:"nodes"`
}

// Batch is the nodes of one or more requests, for one cluster, region and login,
// carried to CCE in one RemoveNode call. It is the unit the worker submits,
// reconciles and polls; each request keeps its own record.
type Batch struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	ClusterID string `json:"cluster_id"`
	// Region is its members' region: its calls go to that region's CCE.
	Region  string     `json:"region,omitempty"`
	Login   Login      `json:"login"`
	Members []Member   `json:"members"`
	State   BatchState `json:"state"`
	// Attempt counts RemoveNode calls made for the batch, less throttled ones.
	Attempt int `json:"attempt"`
	// Throttled counts throttled answers in a row; waits grow with it.
	Throttled int `json:"throttled,omitempty"`
	// SendingAt is when the intent of the last call was recorded: a job
	// that began before it is not this batch's.
	SendingAt time.Time `json:"sending_at,omitzero"`
	// SendingUntil is when a call marked sending is over for sure (the call's
	// timeout plus a margin); before it, nobody else may touch the batch.
	SendingUntil time.Time  `json:"sending_until,omitzero"`
	JobID        string     `json:"job_id,omitempty"`
	Polls        int        `json:"polls"`
	LastError    string     `json:"last_error,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	AcceptedAt   *time.Time `json:"accepted_at,omitempty"`
}

// Clone returns a copy of the batch that shares nothing with it.
func (b *Batch) Clone() *Batch {
	c := *b
	c.Members = make([]Member, len(b.Members))
	for i, m := range b.Members {
		c.Members[i] = Member{RequestID: m.RequestID, Nodes: append([]string(nil), m.Nodes...)}
	}
	c.AcceptedAt = cloneTime(b.AcceptedAt)
	return &c
}

// RequestIDs lists the batch's requests.
func (b *Batch) RequestIDs() []string {
	ids := make([]string, len(b.Members))
	for i, m := range b.Members {
		ids[i] = m.RequestID
	}
	return ids
}

// Has reports whether request id is a member of the batch.
func (b *Batch) Has(id string) bool {
	for _, m := range b.Members {
		if m.RequestID == id {
			return true
		}
	}
	return false
}

// Nodes lists every node of the batch, in member order.
func (b *Batch) Nodes() []string {
	var out []string
	for _, m := range b.Members {
		out = append(out, m.Nodes...)
	}
	return out
}

// Owner returns the request that holds uid in this batch.
func (b *Batch) Owner(uid string) (string, bool) {
	for _, m := range b.Members {
		for _, n := range m.Nodes {
			if n == uid {
				return m.RequestID, true
			}
		}
	}
	return "", false
}

// DropNodes takes nodes out of the batch (their outcome is known) and
// removes members left with none.
func (b *Batch) DropNodes(uids map[string]bool) {
	members := b.Members[:0]
	for _, m := range b.Members {
		kept := m.Nodes[:0]
		for _, n := range m.Nodes {
			if !uids[n] {
				kept = append(kept, n)
			}
		}
		m.Nodes = kept
		if len(kept) > 0 {
			members = append(members, m)
		}
	}
	b.Members = members
}

// resolve records known outcomes of some nodes (removed or failed, with a
// reason), takes them out of the batch and settles requests left with no
// open node. The batch is done when no node is left.
func (b *Batch) resolve(recs map[string]*Record, outcomes map[string]Node, now time.Time) {
	done := make(map[string]bool, len(outcomes))
	for uid, o := range outcomes {
		owner, ok := b.Owner(uid)
		if !ok {
			continue
		}
		if r := recs[owner]; r != nil && !r.State.Final() {
			r.SetNode(uid, o.State, o.Reason)
			r.Settle(now)
		}
		done[uid] = true
	}
	b.DropNodes(done)
	if len(b.Members) == 0 {
		b.State = BatchDone
	}
}

// failAll ends every open node of the batch failed with reason, and with it
// every member request.
func (b *Batch) failAll(recs map[string]*Record, reason string, now time.Time) {
	for _, m := range b.Members {
		r := recs[m.RequestID]
		if r == nil || r.State.Final() {
			continue
		}
		for _, uid := range m.Nodes {
			r.SetNode(uid, NodeFailed, reason)
		}
		r.Settle(now)
	}
	b.Members, b.State, b.LastError = nil, BatchDone, reason
}

// dissolve returns the open nodes of every member to its request, queued
// again for the next batch, with reason as its last error. The batch is done
// (and empty); nothing was sent, or what was sent was refused.
func (b *Batch) dissolve(recs map[string]*Record, reason string) {
	for _, m := range b.Members {
		r := recs[m.RequestID]
		if r == nil || r.State.Final() {
			continue
		}
		for _, uid := range m.Nodes {
			if n := r.node(uid); n != nil && !n.State.Final() {
				n.State, n.Reason = r.waitingNode(), ""
			}
		}
		r.State, r.BatchID, r.Error = StateQueued, "", reason
	}
	b.Members, b.State, b.LastError = nil, BatchDone, reason
}
