package controller

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/noderemover/noderemover/enqueuer"
)

// projectPattern is what a project id may be, as package removal's ids.
var projectPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Cluster is one cluster the controller watches (WATCH_CLUSTERS).
type Cluster struct {
	ProjectID string
	ClusterID string
	// Region is the cluster's CCE region; "" takes the fleet's CCE_REGION.
	Region string
}

func (c Cluster) String() string { return c.ProjectID + "/" + c.ClusterID }

// ParseClusters reads WATCH_CLUSTERS: `project_id/cluster_id,...`. Every
// entry must name both ids, well formed, and no cluster twice.
func ParseClusters(s string) ([]Cluster, error) {
	var out []Cluster
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		project, cluster, ok := strings.Cut(part, "/")
		switch {
		case !ok || project == "" || cluster == "" || strings.Contains(cluster, "/"):
			return nil, fmt.Errorf("WATCH_CLUSTERS entry %d %q is not project_id/cluster_id", i+1, part)
		case !projectPattern.MatchString(project):
			return nil, fmt.Errorf("WATCH_CLUSTERS entry %d: project id %q is not well formed", i+1, project)
		}
		if err := enqueuer.ValidClusterID(cluster); err != nil {
			return nil, fmt.Errorf("WATCH_CLUSTERS entry %d: %w", i+1, err)
		}
		if seen[cluster] {
			return nil, fmt.Errorf("WATCH_CLUSTERS names cluster %s twice", cluster)
		}
		seen[cluster] = true
		out = append(out, Cluster{ProjectID: project, ClusterID: cluster})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("WATCH_CLUSTERS names no cluster (want project_id/cluster_id,...)")
	}
	return out, nil
}
