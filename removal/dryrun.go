package removal

import "time"

// A dry run answers "what would happen if I asked for this now?" without a
// record, a claim, or any change in CCE or Kubernetes. The enqueuer asks a
// worker (the only place with CCE and Kubernetes credentials) through
// Redis, and waits, bounded, for its answer.

// Verdicts of a node in a dry run.
const (
	VerdictOK      = "ok"
	VerdictBlocked = "blocked"
)

// DryRun is a dry run's answer: OK when no node is blocked.
type DryRun struct {
	DryRun bool          `json:"dry_run"`
	OK     bool          `json:"ok"`
	Nodes  []NodeVerdict `json:"nodes"`
}

// NodeVerdict is one node's answer, with every reason it would not go now.
type NodeVerdict struct {
	UID     string   `json:"uid"`
	Verdict string   `json:"verdict"`
	Reasons []string `json:"reasons"`
}

// NewDryRun makes the answer for nodes (in the request's order) from the
// reasons found for each.
func NewDryRun(nodes []string, reasons map[string][]string) *DryRun {
	d := &DryRun{DryRun: true, OK: true, Nodes: make([]NodeVerdict, 0, len(nodes))}
	for _, uid := range nodes {
		v := NodeVerdict{UID: uid, Verdict: VerdictOK, Reasons: append([]string{}, reasons[uid]...)}
		if len(v.Reasons) > 0 {
			v.Verdict, d.OK = VerdictBlocked, false
		}
		d.Nodes = append(d.Nodes, v)
	}
	return d
}

// Question is a dry run as a worker gets it: a validated request's cluster,
// nodes and drain (never its login), and when the asker stops waiting.
type Question struct {
	ID        string    `json:"id"`
	Deadline  time.Time `json:"deadline"`
	ProjectID string    `json:"project_id"`
	ClusterID string    `json:"cluster_id"`
	Region    string    `json:"region,omitempty"`
	Nodes     []string  `json:"nodes"`
	Drain     *Drain    `json:"drain,omitempty"`
}
