package worker

import (
	"testing"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/removal"
)

func TestNodeOutcomes(t *testing.T) {
	sub := func(uid string, phase cce.JobPhase, reason string) cce.Job {
		var j cce.Job
		j.Spec.ResourceID, j.Status.Phase, j.Status.Reason = uid, phase, reason
		return j
	}
	var job cce.Job
	job.Status.Phase = cce.JobFailed
	job.Status.Reason = "some nodes failed"
	nested := sub("", cce.JobSuccess, "")
	nested.Spec.SubJobs = []cce.Job{sub("n2", cce.JobFailed, "disk busy")}
	job.Spec.SubJobs = []cce.Job{sub("n1", cce.JobSuccess, ""), nested}

	named, rest := NodeOutcomes(&job, "job-1")
	got := func(uid string) removal.Node {
		if o, ok := named[uid]; ok {
			return o
		}
		return rest
	}
	want := map[string]removal.Node{
		"n1": {State: removal.NodeRemoved},
		"n2": {State: removal.NodeFailed, Reason: "disk busy"},
		"n3": {State: removal.NodeFailed, Reason: "some nodes failed"}, // no sub-job: the job's phase
	}
	for uid, w := range want {
		if got(uid) != w {
			t.Errorf("%s: %+v, want %+v", uid, got(uid), w)
		}
	}

	var ok cce.Job
	ok.Status.Phase = cce.JobSuccess
	if named, o := NodeOutcomes(&ok, "job-2"); len(named) != 0 || o.State != removal.NodeRemoved {
		t.Errorf("no sub-jobs, job succeeded: %+v", o)
	}
	var bad cce.Job
	bad.Status.Phase = cce.JobFailed
	if _, o := NodeOutcomes(&bad, "job-3"); o.State != removal.NodeFailed || o.Reason != "CCE job job-3 ended Failed" {
		t.Errorf("no sub-jobs, job failed without reason: %+v", o)
	}
}
