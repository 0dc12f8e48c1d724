package cce

import (
	"context"
	"fmt"
	"net/http"
)

// ClusterPhase is the phase of a CCE cluster.
type ClusterPhase string

// The phases of a cluster.
const (
	ClusterAvailable       ClusterPhase = "Available"
	ClusterUnavailable     ClusterPhase = "Unavailable"
	ClusterCreating        ClusterPhase = "Creating"
	ClusterUpgrading       ClusterPhase = "Upgrading"
	ClusterDeleting        ClusterPhase = "Deleting"
	ClusterScalingUp       ClusterPhase = "ScalingUp"
	ClusterScalingDown     ClusterPhase = "ScalingDown"
	ClusterHibernating     ClusterPhase = "Hibernating"
	ClusterHibernation     ClusterPhase = "Hibernation"
	ClusterAwaking         ClusterPhase = "Awaking"
	ClusterFreezing        ClusterPhase = "Freezing"
	ClusterFrozen          ClusterPhase = "Frozen"
	ClusterUnFreezing      ClusterPhase = "UnFreezing"
	ClusterResizing        ClusterPhase = "Resizing"
	ClusterPartialResizing ClusterPhase = "PartialResizing"
	ClusterRollingBack     ClusterPhase = "RollingBack"
	ClusterRollbackFailed  ClusterPhase = "RollbackFailed"
	ClusterEmpty           ClusterPhase = "Empty"
	ClusterError           ClusterPhase = "Error"
)

// Removable reports whether RemoveNode is taken in this phase: Available,
// or Unavailable (user guide cce_10_0338).
func (p ClusterPhase) Removable() bool { return p == ClusterAvailable || p == ClusterUnavailable }

// Gone reports whether the cluster will not come back (Deleting). Any other
// phase that is not Removable can pass later.
func (p ClusterPhase) Gone() bool { return p == ClusterDeleting }

// Cluster is a CCE cluster as ShowCluster answers it (only what removal
// needs).
type Cluster struct {
	Kind       string          `json:"kind"`
	APIVersion string          `json:"apiVersion"`
	Metadata   ClusterMetadata `json:"metadata"`
	Status     ClusterStatus   `json:"status"`
}

// ClusterMetadata identifies a cluster.
type ClusterMetadata struct {
	UID  string `json:"uid"`
	Name string `json:"name"`
}

// ClusterStatus is where a cluster stands.
type ClusterStatus struct {
	Phase ClusterPhase `json:"phase"`
}

// NodeList is ListNodes' answer.
type NodeList struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Items      []Node `json:"items"`
}

// ShowCluster returns a cluster; one CCE does not know is IsNotFound.
func (c *Client) ShowCluster(ctx context.Context, projectID, clusterID string) (*Cluster, error) {
	const op = "ShowCluster"
	if err := nonEmpty("projectID", projectID, "clusterID", clusterID); err != nil {
		return nil, fmt.Errorf("cce %s: %w", op, err)
	}
	var cl Cluster
	path := apiPath("projects", projectID, "clusters", clusterID) + "?errorStatus=true"
	if err := c.call(ctx, op, http.MethodGet, path, nil, nil, &cl); err != nil {
		return nil, err
	}
	if cl.Status.Phase == "" {
		return nil, fmt.Errorf("cce %s: %w: cluster %s has no status.phase", op, ErrBadAnswer, clusterID)
	}
	return &cl, nil
}

// ListNodes returns every node of a cluster. It asks with errorStatus, so
// that a node in Error shows as Error (without it CCE reports Deleting).
func (c *Client) ListNodes(ctx context.Context, projectID, clusterID string) ([]Node, error) {
	const op = "ListNodes"
	if err := nonEmpty("projectID", projectID, "clusterID", clusterID); err != nil {
		return nil, fmt.Errorf("cce %s: %w", op, err)
	}
	var list NodeList
	path := apiPath("projects", projectID, "clusters", clusterID, "nodes") + "?errorStatus=true"
	if err := c.call(ctx, op, http.MethodGet, path, nil, nil, &list); err != nil {
		return nil, err
	}
	for i, n := range list.Items {
		if n.Metadata.UID == "" {
			return nil, fmt.Errorf("cce %s: %w: item %d has no metadata.uid", op, ErrBadAnswer, i)
		}
	}
	return list.Items, nil
}
