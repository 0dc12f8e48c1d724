package ccetest_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// timeStringLayout is Go's time.String() layout, which CCE uses.
const timeStringLayout = "2006-01-02 15:04:05.999999999 -0700 MST"

// subJobPhases maps each sub-job's resourceID to its phase.
func subJobPhases(j *cce.Job) map[string]cce.JobPhase {
	out := map[string]cce.JobPhase{}
	for _, s := range j.Spec.SubJobs {
		out[s.Spec.ResourceID] = s.Status.Phase
	}
	return out
}

// showJob fetches a job, failing the test on error.
func showJob(tb testing.TB, c *cce.Client, jobID string) *cce.Job {
	tb.Helper()
	j, err := c.ShowJob(tb.Context(), project, jobID)
	if err != nil {
		tb.Fatal(err)
	}
	return j
}

func TestJobLifecycle(t *testing.T) {
	clk := testkit.NewClock(time.Time{})
	srv := newServer(t, ccetest.Options{JobDuration: 100 * time.Second, Now: clk.Now})
	srv.AddNodes(project, cluster, "n1", "n2", "n3")
	c := newClient(t, srv, 0)
	ctx := t.Context()
	start := clk.Now()

	jobID, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n1", "n2"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Initializing", func(t *testing.T) {
		j := showJob(t, c, jobID)
		if j.Status.Phase != cce.JobInitializing || j.Spec.ClusterUID != cluster || j.Kind != "Job" {
			t.Errorf("job = %+v", j)
		}
		if got := subJobPhases(j); len(got) != 2 || got["n1"] != cce.JobInitializing || got["n2"] != cce.JobInitializing {
			t.Errorf("sub-jobs = %v", got)
		}
		created, err := time.Parse(timeStringLayout, j.Metadata.CreationTimestamp)
		if err != nil || !created.Equal(start) {
			t.Errorf("creationTimestamp %q = %v, %v; want %v", j.Metadata.CreationTimestamp, created, err, start)
		}
		node, err := c.ShowNode(ctx, project, cluster, "n1")
		if err != nil || node.Status.Phase != cce.NodeDeleting || node.Status.JobID != jobID {
			t.Errorf("ShowNode = %+v, %v; want Deleting with job %s", node, err, jobID)
		}
		if phase, id, ok := srv.Node(project, cluster, "n3"); !ok || phase != cce.NodeActive || id == "" || id == jobID {
			t.Errorf("untouched node = %v %q %v; want Active with its own create job", phase, id, ok)
		}
	})
	t.Run("RunningAfterOneSecond", func(t *testing.T) {
		clk.Advance(time.Second)
		if j := showJob(t, c, jobID); j.Status.Phase != cce.JobRunning || subJobPhases(j)["n2"] != cce.JobRunning {
			t.Errorf("phase = %s", j.Status.Phase)
		}
	})
	t.Run("StillRunningJustBeforeTheEnd", func(t *testing.T) {
		clk.Advance(99*time.Second - time.Nanosecond)
		if phase, _ := srv.JobPhase(project, jobID); phase != cce.JobRunning {
			t.Errorf("phase = %s", phase)
		}
		if _, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n3"}); !cce.IsClusterBusy(err) {
			t.Errorf("removal during the job: %v, want cluster busy", err)
		}
	})
	t.Run("SuccessRemovesNodes", func(t *testing.T) {
		clk.Advance(time.Nanosecond)
		j := showJob(t, c, jobID)
		if j.Status.Phase != cce.JobSuccess || !j.Status.Phase.Final() {
			t.Errorf("phase = %s", j.Status.Phase)
		}
		if got := subJobPhases(j); got["n1"] != cce.JobSuccess || got["n2"] != cce.JobSuccess {
			t.Errorf("sub-jobs = %v", got)
		}
		updated, err := time.Parse(timeStringLayout, j.Metadata.UpdateTimestamp)
		if err != nil || !updated.Equal(start.Add(100*time.Second)) {
			t.Errorf("updateTimestamp %q", j.Metadata.UpdateTimestamp)
		}
		for _, uid := range []string{"n1", "n2"} {
			if _, err := c.ShowNode(ctx, project, cluster, uid); !cce.IsNotFound(err) {
				t.Errorf("ShowNode(%s) = %v, want 404 CCE.01404001", uid, err)
			}
			if _, _, ok := srv.Node(project, cluster, uid); ok {
				t.Errorf("node %s still exists", uid)
			}
		}
	})
	t.Run("ClusterFreedAfterTheJob", func(t *testing.T) {
		if _, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n3"}); err != nil {
			t.Error(err)
		}
	})
}

func TestInitializingIsATenthOfTheDuration(t *testing.T) {
	clk := testkit.NewClock(time.Time{})
	srv := newServer(t, ccetest.Options{JobDuration: 5 * time.Second, Now: clk.Now})
	srv.AddNodes(project, cluster, "n1")
	jobID, err := newClient(t, srv, 0).RemoveNodes(t.Context(), project, cluster, sshLogin, []string{"n1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		advance time.Duration
		want    cce.JobPhase
	}{
		{499 * time.Millisecond, cce.JobInitializing},
		{time.Millisecond, cce.JobRunning},
		{4499 * time.Millisecond, cce.JobRunning},
		{time.Millisecond, cce.JobSuccess},
	} {
		clk.Advance(step.advance)
		if got, ok := srv.JobPhase(project, jobID); !ok || got != step.want {
			t.Errorf("after %v more: phase %s, want %s", step.advance, got, step.want)
		}
	}
}

func TestInstantJobs(t *testing.T) {
	srv := newServer(t, ccetest.Options{})
	srv.AddNodes(project, cluster, "n1")
	c := newClient(t, srv, 0)
	jobID, err := c.RemoveNodes(t.Context(), project, cluster, sshLogin, []string{"n1"})
	if err != nil {
		t.Fatal(err)
	}
	if j := showJob(t, c, jobID); j.Status.Phase != cce.JobSuccess {
		t.Errorf("phase = %s, want Success at once", j.Status.Phase)
	}
	if _, err := c.ShowNode(t.Context(), project, cluster, "n1"); !cce.IsNotFound(err) {
		t.Errorf("ShowNode = %v, want not found", err)
	}
}

func TestFailRemoval(t *testing.T) {
	clk := testkit.NewClock(time.Time{})
	srv := newServer(t, ccetest.Options{JobDuration: time.Minute, Now: clk.Now})
	srv.AddNodes(project, cluster, "ok-1", "bad-1")
	c := newClient(t, srv, 0)
	jobID, err := c.RemoveNodes(t.Context(), project, cluster, sshLogin, []string{"ok-1", "bad-1"})
	if err != nil {
		t.Fatal(err)
	}
	srv.FailRemoval("bad-1") // marked while the job runs: it fails when the job ends
	clk.Advance(time.Minute)

	j := showJob(t, c, jobID)
	if j.Status.Phase != cce.JobFailed || j.Status.Reason == "" {
		t.Errorf("job = %s %q, want Failed with a reason", j.Status.Phase, j.Status.Reason)
	}
	for _, s := range j.Spec.SubJobs {
		switch s.Spec.ResourceID {
		case "ok-1":
			if s.Status.Phase != cce.JobSuccess {
				t.Errorf("sub-job of ok-1 = %s", s.Status.Phase)
			}
		case "bad-1":
			if s.Status.Phase != cce.JobFailed || s.Status.Reason == "" {
				t.Errorf("sub-job of bad-1 = %s %q", s.Status.Phase, s.Status.Reason)
			}
		}
	}
	node, err := c.ShowNode(t.Context(), project, cluster, "bad-1")
	if err != nil || node.Status.Phase != cce.NodeError || node.Status.JobID != jobID {
		t.Errorf("failed node = %+v, %v; want Error keeping job %s", node, err, jobID)
	}
	if _, _, ok := srv.Node(project, cluster, "ok-1"); ok {
		t.Error("the node whose removal succeeded is still there")
	}
}

func TestDoubleRemovals(t *testing.T) {
	srv := newServer(t, ccetest.Options{})
	srv.AddNodes(project, cluster, "n1", "n2")
	c := newClient(t, srv, 0)
	ctx := t.Context()
	if _, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n1", "n2"}); err != nil {
		t.Fatal(err)
	}
	if d := srv.DoubleRemovals(); len(d) != 0 {
		t.Fatalf("DoubleRemovals = %v after one removal", d)
	}
	srv.AddNodes(project, cluster, "n1") // the node comes back and is removed again
	if _, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n1"}); err != nil {
		t.Fatal(err)
	}
	if d := srv.DoubleRemovals(); !slices.Equal(d, []string{"n1"}) {
		t.Errorf("DoubleRemovals = %v, want [n1]", d)
	}
	removals := srv.Removals()
	if len(removals) != 2 || !slices.Equal(removals[0].Nodes, []string{"n1", "n2"}) ||
		removals[1].ClusterID != cluster || removals[1].ProjectID != project || removals[1].JobID == "" {
		t.Errorf("Removals = %+v", removals)
	}
}

// TestNodesKeepTheirCreateJob: a node's status.jobID is its last job, which
// for a node never removed is the job that created it, long over.
func TestNodesKeepTheirCreateJob(t *testing.T) {
	clk := testkit.NewClock(time.Time{})
	srv := newServer(t, ccetest.Options{Now: clk.Now})
	srv.AddNodes(project, cluster, "n1")
	c := newClient(t, srv, 0)
	node, err := c.ShowNode(t.Context(), project, cluster, "n1")
	if err != nil || node.Status.Phase != cce.NodeActive || node.Status.JobID == "" {
		t.Fatalf("ShowNode = %+v, %v; want Active naming its create job", node, err)
	}
	j := showJob(t, c, node.Status.JobID)
	created, err := time.Parse(timeStringLayout, j.Metadata.CreationTimestamp)
	if j.Status.Phase != cce.JobSuccess || j.Spec.Type != "CreateNode" || j.Spec.ResourceID != "n1" ||
		err != nil || !created.Before(clk.Now().Add(-30*time.Minute)) {
		t.Errorf("create job = %+v (created %v, %v); want a CreateNode job of n1 that succeeded long ago", j, created, err)
	}
	srv.SetNodePhase(project, cluster, "n1", cce.NodeError)
	if _, id, _ := srv.Node(project, cluster, "n1"); id != node.Status.JobID {
		t.Errorf("a node put into Error by CCE names job %q, want its create job %s still", id, node.Status.JobID)
	}
}

// TestErrorShowsAsDeletingWithoutErrorStatus: CCE reports a node in Error
// as Deleting unless the query carries a non-empty errorStatus.
func TestErrorShowsAsDeletingWithoutErrorStatus(t *testing.T) {
	srv := newServer(t, ccetest.Options{})
	srv.SetNodePhase(project, cluster, "n1", cce.NodeError)
	for query, want := range map[string]cce.NodePhase{"": cce.NodeDeleting, "?errorStatus=": cce.NodeDeleting,
		"?errorStatus=true": cce.NodeError} {
		r := send(t, srv, http.MethodGet, "/api/v3/projects/"+project+"/clusters/"+cluster+"/nodes/n1"+query, "", "")
		var node cce.Node
		if err := json.Unmarshal([]byte(r.body), &node); err != nil || r.status != http.StatusOK || node.Status.Phase != want {
			t.Errorf("ShowNode%s = %d %s, want %s", query, r.status, r.body, want)
		}
	}
}
