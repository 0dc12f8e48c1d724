package removal

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// The guardrails a request passes before anything irreversible happens to
// its nodes (before its drain starts, and again before its RemoveNode
// call): the cluster's maintenance windows, its disruption budget (at most
// so many nodes draining or removing at once) and its minimum (never fewer
// nodes left). Admission decides the budget and the minimum from what CCE
// showed of the cluster just now and from the cluster's Disruption as the
// store read it; the store writes what was admitted, provided the
// Disruption did not change meanwhile (every admission changes its
// Version), so replicas never admit past the budget together.

// Disruption is how a cluster's budget is used: the requests admitted to
// drain or be removed, with their nodes. A request leaves it when it is
// final.
type Disruption struct {
	// Version changes with every admission ("" before the first).
	Version string
	// Admitted maps a request id to the nodes it was admitted with.
	Admitted map[string][]string
}

// Disrupting counts the nodes admitted.
func (d Disruption) Disrupting() int {
	n := 0
	for _, nodes := range d.Admitted {
		n += len(nodes)
	}
	return n
}

// ClusterNodes is what CCE showed of a cluster's nodes just now.
type ClusterNodes struct {
	// Total is every node listed, the base of a percentage budget.
	Total int
	// Live are the nodes that are not being deleted.
	Live map[string]bool
}

// Admission decides which requests of one cluster may start disrupting
// their nodes now. Decide it request by request, oldest first; what it
// admits counts against the requests decided after.
type Admission struct {
	ClusterID string
	Guard     Guard
	Nodes     ClusterNodes
	Use       Disruption
	added     map[string][]string
}

// Verdict is Admission's answer for one request.
type Verdict struct {
	// Go: the request may disrupt its nodes (Before: it was admitted
	// earlier, nothing is to be written for it).
	Go, Before bool
	// Wait says why it must wait for room: over the budget, or under the
	// minimum only while other removals are under way.
	Wait string
	// Refuse says why it can never go: alone it would leave the cluster
	// under its minimum.
	Refuse string
}

// Decide gives request id, of the given open nodes, its verdict, and counts
// it as admitted when it goes.
func (a *Admission) Decide(id string, nodes []string) Verdict {
	if _, ok := a.Use.Admitted[id]; ok {
		return Verdict{Go: true, Before: true}
	}
	if _, ok := a.added[id]; ok {
		return Verdict{Go: true}
	}
	others := map[string]bool{}
	for _, m := range []map[string][]string{a.Use.Admitted, a.added} {
		for _, uids := range m {
			for _, uid := range uids {
				others[uid] = true
			}
		}
	}
	mine := map[string]bool{}
	for _, uid := range nodes {
		mine[uid] = true
	}
	live, alone, left := len(a.Nodes.Live), 0, 0
	for uid := range a.Nodes.Live {
		if !mine[uid] {
			alone++
			if !others[uid] {
				left++
			}
		}
	}
	min := a.Guard.MinNodes
	if alone < min {
		return Verdict{Refuse: fmt.Sprintf("would leave %d nodes in cluster %s (%d now, %d of them in this request); min_nodes is %d",
			alone, a.ClusterID, live, live-alone, min)}
	}
	if left < min {
		return Verdict{Wait: fmt.Sprintf("would leave %d nodes in cluster %s while %d others are being drained or removed; min_nodes is %d",
			left, a.ClusterID, alone-left, min)}
	}
	limit := a.Guard.MaxDisrupting.Of(a.Nodes.Total)
	used := len(others)
	switch {
	case limit == 0:
		return Verdict{Wait: fmt.Sprintf("max_disrupting of cluster %s is %s: no node may be drained or removed (noderemover cluster set %s --max-disrupting N)",
			a.ClusterID, a.Guard.MaxDisrupting, a.ClusterID)}
	case len(nodes) > limit:
		return Verdict{Wait: fmt.Sprintf("the request has %d nodes and cluster %s allows %d at once (max_disrupting %s of %d nodes): raise it (noderemover cluster set %s --max-disrupting N) or split the request",
			len(nodes), a.ClusterID, limit, a.Guard.MaxDisrupting, a.Nodes.Total, a.ClusterID)}
	case used+len(nodes) > limit:
		return Verdict{Wait: fmt.Sprintf("over budget: %d nodes of cluster %s are being drained or removed, %d allowed at once (max_disrupting %s of %d nodes); this request has %d",
			used, a.ClusterID, limit, a.Guard.MaxDisrupting, a.Nodes.Total, len(nodes))}
	}
	if a.added == nil {
		a.added = map[string][]string{}
	}
	a.added[id] = slices.Clone(nodes)
	return Verdict{Go: true}
}

// Added returns the requests Decide admitted, with their nodes: what the
// store is to write.
func (a *Admission) Added() map[string][]string { return maps.Clone(a.added) }

// Clone returns a copy that decides apart from a (a dry run's).
func (a *Admission) Clone() *Admission {
	c := *a
	c.added = maps.Clone(a.added)
	return &c
}

// WindowWait says why a cluster with guard g waits at now because no
// maintenance window is open ("" when one is, or none is set), and how long
// until the next one opens.
func WindowWait(g Guard, cluster string, now time.Time) (string, time.Duration) {
	open, next := WindowsOpen(g.Windows, now)
	if open {
		return "", 0
	}
	if next.IsZero() {
		return fmt.Sprintf("outside every maintenance window of cluster %s, and none opens again", cluster), 0
	}
	return fmt.Sprintf("outside every maintenance window of cluster %s; the next opens at %s",
		cluster, next.UTC().Format(time.RFC3339)), next.Sub(now)
}

// FailNodes fails the open nodes of r named in reasons, each with its
// reason (a preflight found them not in the cluster, or in a phase CCE
// cannot remove), and ends r once no node is left open. It reports whether
// the record changed.
func FailNodes(r *Record, reasons map[string]string, now time.Time) bool {
	changed := false
	for _, uid := range r.OpenNodes() {
		if why, ok := reasons[uid]; ok {
			r.SetNode(uid, NodeFailed, why)
			changed = true
		}
	}
	if changed {
		if r.Settle(now) {
			r.Waiting = ""
		}
		r.UpdatedAt = now
	}
	return changed
}
