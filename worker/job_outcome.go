package worker

import (
	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/removal"
)

// NodeOutcomes reads a final job's outcome per node: named, from each final
// sub-job (at any depth) whose resourceID is a node, by uid; and rest, the
// job's own outcome, for every node no sub-job names.
func NodeOutcomes(job *cce.Job, jobID string) (named map[string]removal.Node, rest removal.Node) {
	named = make(map[string]removal.Node)
	var walk func(j *cce.Job)
	walk = func(j *cce.Job) {
		for i := range j.Spec.SubJobs {
			s := &j.Spec.SubJobs[i]
			if _, seen := named[s.Spec.ResourceID]; s.Spec.ResourceID != "" && !seen && s.Status.Phase.Final() {
				named[s.Spec.ResourceID] = outcome(s, jobID)
			}
			walk(s)
		}
	}
	walk(job)
	return named, outcome(job, jobID)
}

func outcome(j *cce.Job, jobID string) removal.Node {
	if j.Status.Phase == cce.JobSuccess {
		return removal.Node{State: removal.NodeRemoved}
	}
	reason := j.Status.Reason
	if reason == "" {
		reason = "CCE job " + jobID + " ended " + string(j.Status.Phase)
	}
	return removal.Node{State: removal.NodeFailed, Reason: reason}
}
