package cce

import (
	"strings"
	"time"
)

// MaxNodesPerRemoval is the largest number of nodes CCE accepts in one
// RemoveNode call.
const MaxNodesPerRemoval = 200

// Login is how CCE lets an operator into a node after it has left the cluster
// and its operating system has been reinstalled. Exactly one of SSHKey and
// UserPassword is set.
type Login struct {
	SSHKey       string        `json:"sshKey,omitempty"`
	UserPassword *UserPassword `json:"userPassword,omitempty"`
}

// UserPassword is the password login of a node.
type UserPassword struct {
	// Username defaults to "root" on the CCE side.
	Username string `json:"username,omitempty"`
	// Password is already base64 of a SHA-512 crypt string ("$6$salt$hash"),
	// the form CCE requires; the client sends it as given and never logs it.
	Password string `json:"password"`
}

// RemoveNodesTask is the wire body of RemoveNode, both the request and the
// answer (which adds Status and masks the password).
type RemoveNodesTask struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Spec       RemoveNodesSpec `json:"spec"`
	Status     *TaskStatus     `json:"status,omitempty"`
}

// RemoveNodesSpec lists the nodes to remove and the login to install on them.
type RemoveNodesSpec struct {
	Login Login      `json:"login"`
	Nodes []NodeItem `json:"nodes"`
}

// NodeItem names one node by its uid.
type NodeItem struct {
	UID string `json:"uid"`
}

// TaskStatus carries the id of the job CCE started for an accepted removal.
type TaskStatus struct {
	JobID string `json:"jobID"`
}

// JobPhase is the phase of a CCE job.
type JobPhase string

// The phases of a job; Success and Failed are final.
const (
	JobInitializing JobPhase = "Initializing"
	JobRunning      JobPhase = "Running"
	JobSuccess      JobPhase = "Success"
	JobFailed       JobPhase = "Failed"
)

// Final reports whether the job has ended and will not change phase again.
func (p JobPhase) Final() bool { return p == JobSuccess || p == JobFailed }

// Job is a CCE job as ShowJob answers it. Sub-jobs are jobs too and may nest.
type Job struct {
	Kind       string      `json:"kind"`
	APIVersion string      `json:"apiVersion"`
	Metadata   JobMetadata `json:"metadata"`
	Spec       JobSpec     `json:"spec"`
	Status     JobStatus   `json:"status"`
}

// JobMetadata identifies a job. Timestamps are in Go's time.String() format
// ("2006-01-02 15:04:05.999999999 -0700 MST"), not RFC 3339; they are kept as
// strings because CCE does not promise more.
type JobMetadata struct {
	UID               string `json:"uid"`
	CreationTimestamp string `json:"creationTimestamp,omitempty"`
	UpdateTimestamp   string `json:"updateTimestamp,omitempty"`
}

// JobSpec says what a job works on. For a removal, a sub-job whose ResourceID
// is a node uid carries that node's outcome.
type JobSpec struct {
	Type         string `json:"type"`
	ClusterUID   string `json:"clusterUID"`
	ResourceID   string `json:"resourceID"`
	ResourceName string `json:"resourceName,omitempty"`
	SubJobs      []Job  `json:"subJobs,omitempty"`
}

// JobStatus is where a job stands.
type JobStatus struct {
	Phase  JobPhase `json:"phase"`
	Reason string   `json:"reason,omitempty"`
}

// NodePhase is the phase of a CCE node.
type NodePhase string

// The phases of a node.
const (
	NodeBuild      NodePhase = "Build"
	NodeInstalling NodePhase = "Installing"
	NodeUpgrading  NodePhase = "Upgrading"
	NodeActive     NodePhase = "Active"
	NodeAbnormal   NodePhase = "Abnormal"
	NodeDeleting   NodePhase = "Deleting"
	NodeError      NodePhase = "Error"
)

// Removable reports whether CCE accepts removing a node in this phase.
func (p NodePhase) Removable() bool {
	return p == NodeActive || p == NodeAbnormal || p == NodeError
}

// Node is a CCE node as ShowNode answers it (only the fields removal needs).
type Node struct {
	Kind       string       `json:"kind"`
	APIVersion string       `json:"apiVersion"`
	Metadata   NodeMetadata `json:"metadata"`
	Status     NodeStatus   `json:"status"`
}

// NodeMetadata identifies a node.
type NodeMetadata struct {
	UID  string `json:"uid"`
	Name string `json:"name,omitempty"`
}

// NodeStatus is where a node stands. While a removal runs, Phase is Deleting
// and JobID names the removal's job.
type NodeStatus struct {
	Phase    NodePhase `json:"phase"`
	JobID    string    `json:"jobID,omitempty"`
	ServerID string    `json:"serverId,omitempty"`
	// PrivateIP is the node's private address; the Kubernetes node name
	// is this address by default (Metadata.Name is CCE's display name).
	PrivateIP string `json:"privateIP,omitempty"`
}

// timeStringLayout is Go's time.String() form, which CCE uses for job
// timestamps (a monotonic clock suffix " m=+..." may follow).
const timeStringLayout = "2006-01-02 15:04:05.999999999 -0700 MST"

// parseJobTime reads a job timestamp.
func parseJobTime(s string) (time.Time, bool) {
	if i := strings.Index(s, " m="); i >= 0 {
		s = s[:i]
	}
	t, err := time.Parse(timeStringLayout, strings.TrimSpace(s))
	return t, err == nil
}

// Created is when the job began, from its timestamp; ok is false when it is
// missing or does not parse.
func (j *Job) Created() (time.Time, bool) { return parseJobTime(j.Metadata.CreationTimestamp) }

// IsRemoval reports whether the job may be a node removal: its type names a
// removal or deletion ("RemoveNodes", "DeleteNode", ...), or it has none.
// CCE documents no type names; a node's create job and its other operations
// do not name either.
func (j *Job) IsRemoval() bool {
	t := strings.ToLower(j.Spec.Type)
	return t == "" || strings.Contains(t, "remove") || strings.Contains(t, "delete")
}

// Duration is how long a final job ran, from its timestamps; ok is false
// when they are missing or do not parse.
func (j *Job) Duration() (time.Duration, bool) {
	created, ok1 := parseJobTime(j.Metadata.CreationTimestamp)
	updated, ok2 := parseJobTime(j.Metadata.UpdateTimestamp)
	if !ok1 || !ok2 || updated.Before(created) {
		return 0, false
	}
	return updated.Sub(created), true
}
