package ccetest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/noderemover/noderemover/cce"
)

// Job types the fake gives a removal job and its per-node sub-jobs, and a
// node's create job (no public example shows CCE's own names).
const (
	jobTypeRemoveNodes = "RemoveNodes"
	jobTypeDeleteNode  = "DeleteNode"
	jobTypeCreateNode  = "CreateNode"
)

// showJob answers GET /api/v3/projects/{project_id}/jobs/{job_id}.
func (f *Fake) showJob(rt route, now time.Time) answer {
	j := f.jobs[rt.job]
	if j == nil || j.project != rt.project {
		return cceError(http.StatusNotFound, "CCE.01404001", "job %s not found", rt.job)
	}
	return jsonAnswer(http.StatusOK, renderJob(j, now))
}

// showNode answers GET .../clusters/{cluster_id}/nodes/{node_id}. As CCE
// does for compatibility, a node in Error shows as Deleting unless the
// query carries a non-empty errorStatus.
func (f *Fake) showNode(rt route, query url.Values) answer {
	c := f.clusterOf(rt.project, rt.cluster, false)
	if c == nil {
		return cceError(http.StatusNotFound, "CCE.01404001", "cluster %s not found", rt.cluster)
	}
	n := f.nodeOf(rt.project, rt.cluster, c, rt.node)
	if n == nil {
		return cceError(http.StatusNotFound, "CCE.01404001", "node %s not found in cluster %s", rt.node, rt.cluster)
	}
	return jsonAnswer(http.StatusOK, renderNode(rt.node, n, query))
}

// renderNode draws a node as ShowNode and ListNodes show it: as CCE does
// for compatibility, a node in Error shows as Deleting unless the query
// carries a non-empty errorStatus.
func renderNode(uid string, n *node, query url.Values) cce.Node {
	phase := n.phase
	if phase == cce.NodeError && query.Get("errorStatus") == "" {
		phase = cce.NodeDeleting
	}
	name := n.name
	if name == "" {
		name = nodeName(uid)
	}
	return cce.Node{
		Kind:       "Node",
		APIVersion: "v3",
		Metadata:   cce.NodeMetadata{UID: uid, Name: name},
		Status:     cce.NodeStatus{Phase: phase, JobID: n.jobID, ServerID: n.serverID, PrivateIP: n.ip},
	}
}

// showCluster answers GET .../clusters/{cluster_id}.
func (f *Fake) showCluster(rt route) answer {
	c := f.clusterOf(rt.project, rt.cluster, false)
	if c == nil {
		return cceError(http.StatusNotFound, "CCE.01404001", "cluster %s not found", rt.cluster)
	}
	return jsonAnswer(http.StatusOK, cce.Cluster{Kind: "Cluster", APIVersion: "v3",
		Metadata: cce.ClusterMetadata{UID: rt.cluster, Name: "cluster-" + rt.cluster[:min(len(rt.cluster), 8)]},
		Status:   cce.ClusterStatus{Phase: c.phaseOf()}})
}

// listNodes answers GET .../clusters/{cluster_id}/nodes: every node of the
// cluster, by uid, drawn as showNode draws it.
func (f *Fake) listNodes(rt route, query url.Values) answer {
	c := f.clusterOf(rt.project, rt.cluster, false)
	if c == nil {
		return cceError(http.StatusNotFound, "CCE.01404001", "cluster %s not found", rt.cluster)
	}
	list := cce.NodeList{Kind: "List", APIVersion: "v3", Items: make([]cce.Node, 0, len(c.nodes))}
	for _, uid := range slices.Sorted(maps.Keys(c.nodes)) {
		list.Items = append(list.Items, renderNode(uid, c.nodes[uid], query))
	}
	return jsonAnswer(http.StatusOK, list)
}

// renderJob draws a job as CCE shows it: a removal with one sub-job per
// node, whose resourceID is the node uid; a create job for its node.
func renderJob(j *job, now time.Time) cce.Job {
	phase := j.phaseAt(now)
	if j.create {
		return cce.Job{
			Kind: "Job", APIVersion: "v3",
			Metadata: cce.JobMetadata{UID: j.id, CreationTimestamp: timestamp(j.created), UpdateTimestamp: timestamp(j.end)},
			Spec: cce.JobSpec{Type: jobTypeCreateNode, ClusterUID: j.cluster, ResourceID: j.nodes[0],
				ResourceName: nodeName(j.nodes[0])},
			Status: cce.JobStatus{Phase: cce.JobSuccess},
		}
	}
	meta := func(uid string) cce.JobMetadata {
		return cce.JobMetadata{
			UID:               uid,
			CreationTimestamp: timestamp(j.created),
			UpdateTimestamp:   timestamp(j.updatedAt(now)),
		}
	}
	top := cce.Job{
		Kind: "Job", APIVersion: "v3",
		Metadata: meta(j.id),
		Spec:     cce.JobSpec{Type: jobTypeRemoveNodes, ClusterUID: j.cluster, ResourceID: j.cluster},
		Status:   cce.JobStatus{Phase: phase},
	}
	if phase == cce.JobFailed {
		top.Status.Reason = fmt.Sprintf("%d of %d nodes could not be removed", len(j.failed), len(j.nodes))
	}
	for i, uid := range j.nodes {
		sub := cce.Job{
			Kind: "Job", APIVersion: "v3",
			Metadata: meta(j.subIDs[i]),
			Spec: cce.JobSpec{
				Type: jobTypeDeleteNode, ClusterUID: j.cluster,
				ResourceID: uid, ResourceName: nodeName(uid),
			},
			Status: cce.JobStatus{Phase: phase},
		}
		switch {
		case j.final && j.failed[uid]:
			sub.Status = cce.JobStatus{Phase: cce.JobFailed,
				Reason: fmt.Sprintf("node %s could not be removed (ccetest FailRemoval)", uid)}
		case j.final:
			sub.Status = cce.JobStatus{Phase: cce.JobSuccess}
		}
		top.Spec.SubJobs = append(top.Spec.SubJobs, sub)
	}
	return top
}

// timestamp formats like CCE: Go's time.String() in UTC, without the
// monotonic clock reading.
func timestamp(t time.Time) string { return t.UTC().Round(0).String() }

// nodeName makes a stable display name for a node.
func nodeName(uid string) string { return "node-" + uid[:min(len(uid), 8)] }

// jsonAnswer encodes v as a JSON answer.
func jsonAnswer(status int, v any) answer {
	body, err := json.Marshal(v)
	if err != nil {
		return cceError(http.StatusInternalServerError, "CCE.01500001", "encode answer: %v", err)
	}
	return answer{status: status, header: http.Header{"Content-Type": {"application/json"}}, body: body}
}

// cceError is an error answer in CCE's spelling.
func cceError(status int, code, format string, args ...any) answer {
	return jsonAnswer(status, struct {
		Code    string `json:"errorCode"`
		Message string `json:"errorMessage"`
	}{code, fmt.Sprintf(format, args...)})
}

// gatewayError is an error answer in the API gateway's spelling.
func gatewayError(status int, code, message string) answer {
	return jsonAnswer(status, struct {
		Code    string `json:"error_code"`
		Message string `json:"error_msg"`
	}{code, message})
}
