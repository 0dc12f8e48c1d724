package ccetest

import (
	"cmp"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/noderemover/noderemover/cce"
)

type clusterKey struct{ project, cluster string }

type cluster struct {
	phase   cce.ClusterPhase // "" is Available
	nodes   map[string]*node
	removed map[string]bool                          // removed by a job: AutoNodes does not bring them back
	lockJob string                                   // the job holding the cluster, "" when free
	issue   func(notAfter time.Time) ([]byte, error) // SetClusterCert; nil: none
}

type node struct {
	phase    cce.NodePhase
	jobID    string // the node's last job: its create job, then the removal that holds or failed it
	serverID string
	name     string // the Kubernetes node name (SetNodeAddress); "" is nodeName(uid)
	ip       string // status.privateIP
}

// job is a removal job, or the create job a node was made by. A removal's
// phase is a function of the clock; it is made final (nodes removed,
// cluster freed) by advance once its end has passed. A create job is
// over (Success) long before the fake saw the node.
type job struct {
	id, project, cluster string
	create               bool // a node's create job, not a removal
	nodes                []string
	subIDs               []string
	created, running     time.Time // Initializing from created, Running from running
	end                  time.Time
	final                bool
	failed               map[string]bool // node uids whose sub-job failed, once final
}

// Removal is one accepted RemoveNodes call.
type Removal struct {
	JobID, ProjectID, ClusterID string
	Nodes                       []string
	At                          time.Time
}

var wellFormedUID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// clusterOf returns a cluster, creating it when create is set or AutoNodes
// is on; nil if it does not exist.
func (f *Fake) clusterOf(project, id string, create bool) *cluster {
	key := clusterKey{project, id}
	c := f.clusters[key]
	if c == nil && (create || f.opts.AutoNodes) {
		c = &cluster{nodes: map[string]*node{}, removed: map[string]bool{}}
		f.clusters[key] = c
		if !create {
			for i := range cmp.Or(f.opts.AutoClusterNodes, 100) {
				uid := autoUID(project, id, i)
				c.nodes[uid] = f.newNode(project, id, uid)
			}
		}
	}
	return c
}

// phaseOf is the cluster's phase.
func (c *cluster) phaseOf() cce.ClusterPhase { return cmp.Or(c.phase, cce.ClusterAvailable) }

// autoUID is the uid of the i-th node a cluster made by AutoNodes has
// besides those named: a UUID drawn from the project, cluster and i.
func autoUID(project, cluster string, i int) string {
	h := sha1.Sum([]byte(fmt.Sprintf("%s/%s/%d", project, cluster, i)))
	h[6] = h[6]&0x0f | 0x50 // version 5
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// SetClusterPhase sets a cluster's phase (it is Available until set),
// making the cluster if it is new. RemoveNode is refused while the phase
// is neither Available nor Unavailable.
func (f *Fake) SetClusterPhase(projectID, clusterID string, phase cce.ClusterPhase) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clusterOf(projectID, clusterID, true).phase = phase
}

// nodeOf returns a node of c; with AutoNodes a well-formed uid never removed
// comes into existence, Active.
func (f *Fake) nodeOf(project, clusterID string, c *cluster, uid string) *node {
	n := c.nodes[uid]
	if n == nil && f.opts.AutoNodes && !c.removed[uid] && wellFormedUID.MatchString(uid) {
		n = f.newNode(project, clusterID, uid)
		c.nodes[uid] = n
	}
	return n
}

// nodeAge is how long before the fake first saw it a node was created: its
// create job began then and ended ten minutes later.
const nodeAge = time.Hour

// newNode makes an Active node with the create job it came from, as CCE
// keeps it: status.jobID names that job until a removal takes its place.
func (f *Fake) newNode(project, clusterID, uid string) *node {
	now := f.now()
	j := &job{id: newUUID(), project: project, cluster: clusterID, create: true, nodes: []string{uid},
		subIDs:  []string{newUUID()},
		created: now.Add(-nodeAge), running: now.Add(-nodeAge + time.Second), end: now.Add(-nodeAge + 10*time.Minute),
		final: true, failed: map[string]bool{}}
	f.jobs[j.id] = j
	return &node{phase: cce.NodeActive, jobID: j.id, serverID: newUUID()}
}

// startJob records an accepted removal and starts its job.
func (f *Fake) startJob(project, clusterID string, c *cluster, uids []string, now time.Time) *job {
	d := f.opts.JobDuration
	j := &job{
		id: newUUID(), project: project, cluster: clusterID,
		nodes:   uids,
		created: now, running: now.Add(min(d/10, time.Second)), end: now.Add(d),
	}
	for _, uid := range uids {
		j.subIDs = append(j.subIDs, newUUID())
		n := c.nodes[uid]
		n.phase, n.jobID = cce.NodeDeleting, j.id
	}
	c.lockJob = j.id
	f.jobs[j.id] = j
	f.active = append(f.active, j)
	f.removals = append(f.removals, Removal{
		JobID: j.id, ProjectID: project, ClusterID: clusterID,
		Nodes: append([]string(nil), uids...), At: now,
	})
	f.advance(now) // a zero JobDuration ends the job at once
	return j
}

// advance makes final every job whose end has passed.
func (f *Fake) advance(now time.Time) {
	kept := f.active[:0]
	for _, j := range f.active {
		if now.Before(j.end) {
			kept = append(kept, j)
			continue
		}
		f.finish(j)
	}
	clear(f.active[len(kept):])
	f.active = kept
}

// finish ends a job: nodes marked by FailRemoval go to Error keeping the job
// id, the others leave the cluster; the cluster is freed.
func (f *Fake) finish(j *job) {
	c := f.clusters[clusterKey{j.project, j.cluster}]
	j.final = true
	j.failed = map[string]bool{}
	for _, uid := range j.nodes {
		if f.failing[uid] {
			j.failed[uid] = true
			if n := c.nodes[uid]; n != nil {
				n.phase, n.jobID = cce.NodeError, j.id
			}
			continue
		}
		delete(c.nodes, uid)
		c.removed[uid] = true
	}
	if c.lockJob == j.id {
		c.lockJob = ""
	}
}

// phaseAt is the job's phase; advance has run for now.
func (j *job) phaseAt(now time.Time) cce.JobPhase {
	switch {
	case j.final && len(j.failed) > 0:
		return cce.JobFailed
	case j.final:
		return cce.JobSuccess
	case now.Before(j.running):
		return cce.JobInitializing
	}
	return cce.JobRunning
}

// updatedAt is when the job last changed phase.
func (j *job) updatedAt(now time.Time) time.Time {
	switch {
	case j.final:
		return j.end
	case now.Before(j.running):
		return j.created
	}
	return j.running
}

// AddNodes adds Active nodes to a cluster, creating the cluster if needed,
// each with the create job it came from (over an hour ago) as its
// status.jobID. A node added again after its removal exists again.
func (f *Fake) AddNodes(projectID, clusterID string, uids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.clusterOf(projectID, clusterID, true)
	for _, uid := range uids {
		c.nodes[uid] = f.newNode(projectID, clusterID, uid)
		delete(c.removed, uid)
	}
}

// ensureNode returns node uid, added (and no longer removed) if it does not
// exist, with the clock moved on first; f.mu is held.
func (f *Fake) ensureNode(projectID, clusterID, uid string) *node {
	f.advance(f.now())
	c := f.clusterOf(projectID, clusterID, true)
	n := c.nodes[uid]
	if n == nil {
		n = f.newNode(projectID, clusterID, uid)
		c.nodes[uid] = n
		delete(c.removed, uid)
	}
	return n
}

// SetNodePhase sets a node's phase, adding the node if it does not exist;
// its status.jobID stays what it was (its create job, for a new node), as
// when CCE puts a node into Error or Abnormal by itself.
func (f *Fake) SetNodePhase(projectID, clusterID, uid string, phase cce.NodePhase) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.ensureNode(projectID, clusterID, uid)
	n.phase = phase
}

// SetNodeAddress gives a node (added if it does not exist) the Kubernetes
// node name ShowNode answers as metadata.name and its status.privateIP.
// CCE names a node after its private IP by default.
func (f *Fake) SetNodeAddress(projectID, clusterID, uid, name, privateIP string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.ensureNode(projectID, clusterID, uid)
	n.name, n.ip = name, privateIP
}

// Node reports a node's phase and status.jobID, and whether it exists.
func (f *Fake) Node(projectID, clusterID, uid string) (phase cce.NodePhase, jobID string, exists bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advance(f.now())
	c := f.clusters[clusterKey{projectID, clusterID}]
	if c == nil || c.nodes[uid] == nil {
		return "", "", false
	}
	n := c.nodes[uid]
	return n.phase, n.jobID, true
}

// FailRemoval makes the removal of these nodes fail: when a job holding one
// ends, its sub-job is Failed, the node goes to Error keeping status.jobID,
// and the job is Failed. Jobs that have already ended by the clock are not
// affected.
func (f *Fake) FailRemoval(uids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advance(f.now())
	for _, uid := range uids {
		f.failing[uid] = true
	}
}

// JobPhase reports the phase of a job of a project, and whether it exists.
func (f *Fake) JobPhase(projectID, jobID string) (cce.JobPhase, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.advance(now)
	j := f.jobs[jobID]
	if j == nil || j.project != projectID {
		return "", false
	}
	return j.phaseAt(now), true
}

// Removals returns every accepted RemoveNodes call, in order.
func (f *Fake) Removals() []Removal {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Removal, len(f.removals))
	for i, r := range f.removals {
		r.Nodes = append([]string(nil), r.Nodes...)
		out[i] = r
	}
	return out
}

// DoubleRemovals returns, sorted, the uids of nodes that appear in more than
// one accepted removal of the same cluster. It must stay empty.
func (f *Fake) DoubleRemovals() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	type key struct{ project, cluster, uid string }
	seen := map[key]int{}
	var doubles []string
	for _, r := range f.removals {
		for _, uid := range r.Nodes {
			k := key{r.ProjectID, r.ClusterID, uid}
			seen[k]++
			if seen[k] == 2 {
				doubles = append(doubles, uid)
			}
		}
	}
	sort.Strings(doubles)
	return doubles
}
