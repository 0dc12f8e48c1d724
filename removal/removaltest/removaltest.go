// Package removaltest gives tests a case for every line of the lifecycle
// table: a batch and its member records in the line's state, and the event
// with an input that exercises it. The store's tests run each case down
// every write path; the lifecycle's own tests check what each does.
package removaltest

import (
	"fmt"
	"time"

	"github.com/noderemover/noderemover/removal"
)

// Project and Cluster of every case.
const (
	Project = "0123456789abcdef0123456789abcdef"
	Cluster = "cluster-1"
)

// Case is one event on a batch in one state.
type Case struct {
	Name  string
	From  removal.BatchState
	Event removal.Event
	Input removal.Input
	// Members is how many requests (of two nodes each) the batch holds.
	Members int
}

// Node is the uid of node j of request i.
func Node(i, j int) string { return fmt.Sprintf("%08d-0000-4000-8000-%012d", i, j) }

// JobID is the job a case's accepted batch runs.
const JobID = "2ec9b78d-9368-46f3-8f29-d1a95622a568"

// Cases returns a case for every line of the table, and more than one
// where an event's effect depends on its input.
func Cases(now time.Time) []Case {
	failed := func(reason string) removal.Node { return removal.Node{State: removal.NodeFailed, Reason: reason} }
	removed := removal.Node{State: removal.NodeRemoved}
	in := func(f func(*removal.Input)) removal.Input {
		i := removal.Input{Now: now, Until: now.Add(time.Minute), Reason: "CCE said so"}
		if f != nil {
			f(&i)
		}
		return i
	}
	return []Case{
		{"Send", removal.BatchReady, removal.EventSend, in(nil), 2},
		{"GiveUp", removal.BatchReady, removal.EventGiveUp, in(nil), 2},
		{"Accepted", removal.BatchSending, removal.EventAccepted, in(func(i *removal.Input) { i.JobID = JobID }), 2},
		{"OutcomeUnknown", removal.BatchSending, removal.EventOutcomeUnknown, in(nil), 2},
		{"Throttled", removal.BatchSending, removal.EventThrottled, in(nil), 2},
		{"Failed", removal.BatchSending, removal.EventFailed, in(nil), 2},
		{"RefusedSomeNodes", removal.BatchSending, removal.EventRefused, in(func(i *removal.Input) {
			i.Outcomes = map[string]removal.Node{Node(0, 1): failed("CCE.01404001: not found")}
		}), 2},
		{"RefusedMergedNamingNone", removal.BatchSending, removal.EventRefused, in(nil), 2},
		{"RefusedAlone", removal.BatchSending, removal.EventRefused, in(nil), 1},
		{"ReconciledNotSent", removal.BatchSending, removal.EventReconciled, in(nil), 2},
		{"ReconciledAdopted", removal.BatchSending, removal.EventReconciled, in(func(i *removal.Input) {
			i.JobID = JobID
			i.Outcomes = map[string]removal.Node{Node(1, 0): removed}
		}), 2},
		{"ReconciledAllKnown", removal.BatchSending, removal.EventReconciled, in(func(i *removal.Input) {
			i.Outcomes = map[string]removal.Node{Node(0, 0): removed, Node(0, 1): removed,
				Node(1, 0): failed("removal job x failed"), Node(1, 1): removed}
		}), 2},
		{"Polled", removal.BatchAccepted, removal.EventPolled, in(nil), 2},
		{"JobEnded", removal.BatchAccepted, removal.EventJobEnded, in(func(i *removal.Input) {
			i.Outcomes = map[string]removal.Node{Node(1, 1): failed("node could not be removed")}
			i.Rest = removed
		}), 2},
		{"JobLost", removal.BatchAccepted, removal.EventJobLost, in(nil), 2},
	}
}

// Requests returns the case's requests, to be created queued.
func (c Case) Requests() []removal.Request {
	reqs := make([]removal.Request, c.Members)
	for i := range reqs {
		reqs[i] = removal.Request{ID: fmt.Sprintf("request-%d", i), ProjectID: Project, ClusterID: Cluster,
			Nodes: []string{Node(i, 0), Node(i, 1)}, Login: removal.Login{SSHKey: "key"}}
	}
	return reqs
}

// Steps are the events that take a new ready batch to state s, with their
// input at now.
func Steps(s removal.BatchState, now time.Time) []struct {
	Event removal.Event
	Input removal.Input
} {
	type step = struct {
		Event removal.Event
		Input removal.Input
	}
	send := step{removal.EventSend, removal.Input{Now: now, Until: now.Add(time.Minute)}}
	switch s {
	case removal.BatchSending:
		return []step{send}
	case removal.BatchAccepted:
		return []step{send, {removal.EventAccepted, removal.Input{Now: now, JobID: JobID}}}
	}
	return nil
}
