package worker

import (
	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/removal"
)

// NodeOutcomes reads a final job's outcome for each node: from a sub-job
// whose resourceID is the node (at any depth) when there is one, otherwise
// from the job's own phase.
func NodeOutcomes(job *cce.Job, jobID string, nodes []string) map[string]removal.Node {
	subs := make(map[string]*cce.Job)
	var walk func(j *cce.Job)
	walk = func(j *cce.Job) {
		for i := range j.Spec.SubJobs {
			s := &j.Spec.SubJobs[i]
			if s.Spec.ResourceID != "" {
				if _, seen := subs[s.Spec.ResourceID]; !seen {
					subs[s.Spec.ResourceID] = s
				}
			}
			walk(s)
		}
	}
	walk(job)
	out := make(map[string]removal.Node, len(nodes))
	for _, uid := range nodes {
		j := job
		if s, ok := subs[uid]; ok && s.Status.Phase.Final() {
			j = s
		}
		out[uid] = outcome(j, jobID)
	}
	return out
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
