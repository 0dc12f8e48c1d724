package ccetest_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// TestShowCluster: a cluster is Available until its phase is set; an
// unknown one is 404; while it is not Available (or Unavailable) RemoveNode
// is refused with CCE.01403003, which is worth trying again later.
func TestShowCluster(t *testing.T) {
	srv := newServer(t, ccetest.Options{})
	srv.AddNodes(project, cluster, "n1")
	c := newClient(t, srv, 0)
	ctx := t.Context()
	cl, err := c.ShowCluster(ctx, project, cluster)
	if err != nil || cl.Status.Phase != cce.ClusterAvailable || cl.Metadata.UID != cluster || cl.Kind != "Cluster" {
		t.Fatalf("ShowCluster = %+v, %v", cl, err)
	}
	if _, err := c.ShowCluster(ctx, project, "other"); !cce.IsNotFound(err) {
		t.Errorf("unknown cluster: %v", err)
	}
	srv.SetClusterPhase(project, cluster, cce.ClusterUpgrading)
	if cl, err := c.ShowCluster(ctx, project, cluster); err != nil || cl.Status.Phase != cce.ClusterUpgrading {
		t.Errorf("after SetClusterPhase: %+v, %v", cl, err)
	}
	_, err = c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n1"})
	if cce.Classify(err) != cce.ClassRetryable || cce.MaybeApplied(err) {
		t.Errorf("RemoveNode while Upgrading: %v (class %v)", err, cce.Classify(err))
	}
	srv.SetClusterPhase(project, cluster, cce.ClusterUnavailable)
	if _, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n1"}); err != nil {
		t.Errorf("RemoveNode while Unavailable: %v", err)
	}
	if n := srv.Calls(ccetest.OpShowCluster); n != 3 {
		t.Errorf("ShowCluster calls %d, want 3", n)
	}
}

// TestListNodes: every node of the cluster, Error masked as Deleting
// without errorStatus, removed nodes gone; a cluster AutoNodes makes has
// AutoClusterNodes more.
func TestListNodes(t *testing.T) {
	clk := testkit.NewClock(time.Time{})
	srv := newServer(t, ccetest.Options{JobDuration: time.Minute, Now: clk.Now})
	srv.AddNodes(project, cluster, "n1", "n2", "n3")
	srv.SetNodePhase(project, cluster, "n2", cce.NodeError)
	c := newClient(t, srv, 0)
	ctx := t.Context()
	nodes, err := c.ListNodes(ctx, project, cluster)
	if err != nil || len(nodes) != 3 || nodes[1].Metadata.UID != "n2" || nodes[1].Status.Phase != cce.NodeError {
		t.Fatalf("ListNodes = %+v, %v", nodes, err)
	}
	r := send(t, srv, http.MethodGet, "/api/v3/projects/"+project+"/clusters/"+cluster+"/nodes", "", "")
	var list cce.NodeList
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || r.status != http.StatusOK || list.Items[1].Status.Phase != cce.NodeDeleting {
		t.Errorf("without errorStatus = %d %s", r.status, r.body)
	}
	if _, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n1"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	if nodes, err := c.ListNodes(ctx, project, cluster); err != nil || len(nodes) != 2 || nodes[0].Metadata.UID != "n2" {
		t.Errorf("after the removal = %+v, %v", nodes, err)
	}
	if _, err := c.ListNodes(ctx, project, "other"); !cce.IsNotFound(err) {
		t.Errorf("unknown cluster: %v", err)
	}

	auto := newServer(t, ccetest.Options{AutoNodes: true, AutoClusterNodes: 7})
	ac := newClient(t, auto, 0)
	if _, err := ac.ShowNode(ctx, project, cluster, "0a0a0a0a-0000-4000-8000-000000000001"); err != nil {
		t.Fatal(err)
	}
	nodes, err = ac.ListNodes(ctx, project, cluster)
	if err != nil || len(nodes) != 8 {
		t.Fatalf("an auto cluster lists %d nodes (%v), want 7 + the one named", len(nodes), err)
	}
	again, _ := ac.ListNodes(ctx, project, cluster)
	for i := range nodes {
		if nodes[i].Metadata.UID != again[i].Metadata.UID || nodes[i].Status.Phase != cce.NodeActive {
			t.Errorf("node %d: %+v then %+v", i, nodes[i], again[i])
		}
	}
}

// TestReadsCountClusterCalls: ShowCluster and ListNodes are reads to the
// gateway, throttled with the others.
func TestReadsCountClusterCalls(t *testing.T) {
	clk := testkit.NewClock(time.Time{})
	srv := newServer(t, ccetest.Options{ReadRate: 2, Now: clk.Now})
	srv.AddNodes(project, cluster, "n1")
	c := newClient(t, srv, 0)
	ctx := t.Context()
	if _, err := c.ShowCluster(ctx, project, cluster); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListNodes(ctx, project, cluster); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListNodes(ctx, project, cluster); cce.Classify(err) != cce.ClassThrottled {
		t.Errorf("a third read in one second: %v", err)
	}
}
