package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
)

// TestGuardrailsFromCLIAPIAndGo: a cluster's settings set through the CLI,
// the API and the Go package hold the worker processes back, and dry runs
// through all three say why, storing nothing; what a dry run calls ok goes
// through for real.
func TestGuardrailsFromCLIAPIAndGo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker, API and CLI processes")
	}
	if !redistest.HaveServer() {
		t.Skip("needs redis-server")
	}
	srv := redistest.Start(t, redistest.Options{})
	checkEventsAtEnd(t, srv.URL)
	rdb := srv.Client(t)
	fake := ccetest.NewServer(ccetest.Options{Token: token, JobDuration: 300 * time.Millisecond})
	t.Cleanup(fake.Close)
	const cluster = "guard-c"
	nodes := make([]string, 6)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("000000e0-0000-4000-8000-%012d", i)
	}
	fake.AddNodes(project, cluster, nodes...)

	bin := proctest.Binary(t, true)
	env := []string{"REDIS_URL=" + srv.URL, "CCE_ENDPOINT=" + fake.URL, "CCE_AUTH_TOKEN=" + token,
		"CLUSTER_MAX_DISRUPTING=10%", "CLUSTER_MIN_NODES=2", "BATCH_WINDOW=200ms",
		"POLL_INTERVAL_MIN=200ms", "POLL_INTERVAL_MAX=500ms", "POLL_FIRST_DELAY=300ms",
		"RETRY_BACKOFF_MIN=100ms", "RETRY_BACKOFF_MAX=1s", "LOG_LEVEL=warn", "HTTP_ADDR=127.0.0.1:0"}
	proctest.Start(t, bin, env, "worker")
	apiAddr := proctest.FreeAddr(t)
	proctest.Start(t, bin, []string{"REDIS_URL=" + srv.URL, "API_ADDR=" + apiAddr, "API_TOKENS=" + drainAPIToken,
		"CLUSTER_MAX_DISRUPTING=10%", "CLUSTER_MIN_NODES=2", "LOG_LEVEL=warn"}, "api")
	testkit.WaitFor(t, 30*time.Second, "the API listening", func() bool { return proctest.Listening(apiAddr) })
	cli := []string{"REDIS_URL=" + srv.URL, "CLUSTER_MAX_DISRUPTING=10%", "CLUSTER_MIN_NODES=2"}
	enq := enqueuer.New(rdb, enqueuer.Options{})
	defer enq.Close()
	// Our keys but the shared rate limit's pacing, which a dry run's CCE
	// reads move on as every read does.
	ours := func() string {
		keys, _ := rdb.Keys(t.Context(), "{noderemover}:*").Result()
		slices.Sort(keys)
		var b strings.Builder
		for _, k := range keys {
			if strings.HasPrefix(k, "{noderemover}:cce:") {
				continue
			}
			b.WriteString(k + "=" + rdb.Dump(t.Context(), k).Val() + " ")
		}
		return b.String()
	}

	// CLI: the minimum of 4 refuses three of six nodes in a dry run (exit 1).
	stdout, stderr, code := proctest.RunAll(t, bin, cli, "", "cluster", "set", cluster, "--min-nodes", "4")
	if code != 0 || !strings.Contains(stdout, `"min_nodes":4`) {
		t.Fatalf("cluster set: %d %s %s", code, stdout, stderr)
	}
	before := ours()
	three := []string{"--node", nodes[0], "--node", nodes[1], "--node", nodes[2]}
	stdout, stderr, code = proctest.RunAll(t, bin, cli, "", append([]string{"enqueue", "--dry-run", "--project-id", project,
		"--cluster-id", cluster, "--ssh-key", "k"}, three...)...)
	var d removal.DryRun
	if code != 1 || json.Unmarshal([]byte(stdout), &d) != nil || d.OK || !d.DryRun || len(d.Nodes) != 3 ||
		!strings.Contains(stdout, "would leave 3 nodes in cluster guard-c (6 now, 3 of them in this request); min_nodes is 4") {
		t.Fatalf("enqueue --dry-run: exit %d, stdout %s, stderr %s", code, stdout, stderr)
	}
	if after := ours(); after != before {
		t.Errorf("the CLI's dry run changed Redis:\n before %s\n after  %s", before, after)
	}
	// API: back to a minimum of 1; the budget (10% of 6: one at a time) holds three nodes back.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, "http://"+apiAddr+"/v1/clusters/"+cluster, strings.NewReader(`{"min_nodes": 1}`))
	req.Header.Set("Authorization", "Bearer "+drainAPIToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT settings: %v %v", resp, err)
	}
	resp.Body.Close()
	body := mustJSON(map[string]any{"project_id": project, "cluster_id": cluster, "nodes": nodes[:3], "ssh_key": "k"})
	before = ours()
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+apiAddr+"/v1/removals?dry_run=true", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+drainAPIToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	d = removal.DryRun{}
	err = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || d.OK || !strings.Contains(mustJSON(d), "the request has 3 nodes and cluster guard-c allows 1 at once") {
		t.Fatalf("POST dry run: %d %+v %v", resp.StatusCode, d, err)
	}
	if after := ours(); after != before {
		t.Errorf("the API's dry run changed Redis:\n before %s\n after  %s", before, after)
	}
	// Go: a budget of 100% lets the three go; the dry run says ok.
	all := removal.Budget{N: 100, Percent: true}
	if _, err := enq.SetCluster(t.Context(), cluster, enqueuer.ClusterSettings{MaxDisrupting: &all}); err != nil {
		t.Fatal(err)
	}
	r := enqueuer.Request{ProjectID: project, ClusterID: cluster, Nodes: nodes[:3], SSHKey: "k"}
	before = ours()
	if d, err := enq.Preflight(t.Context(), r); err != nil || !d.OK {
		t.Fatalf("Preflight: %+v, %v", d, err)
	}
	if after := ours(); after != before {
		t.Errorf("Preflight changed Redis:\n before %s\n after  %s", before, after)
	}
	if n := fake.Calls(ccetest.OpRemoveNodes); n != 0 {
		t.Fatalf("%d RemoveNode calls from dry runs", n)
	}
	r.ID = "guard-go"
	if _, err := enq.Enqueue(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if st := waitRequestFinal(t, enq, "guard-go", 60*time.Second); st.State != removal.StateSucceeded {
		t.Fatalf("guard-go: %+v", st)
	}

	// A window that is not open now holds a request, saying when it opens;
	// --no-windows lets it go.
	hour := (time.Now().UTC().Hour() + 12) % 24
	stdout, stderr, code = proctest.RunAll(t, bin, cli, "", "cluster", "set", cluster, "--window", fmt.Sprintf("0 %d * * * 1h UTC", hour))
	if code != 0 {
		t.Fatalf("cluster set --window: %d %s %s", code, stdout, stderr)
	}
	if _, err := enq.Enqueue(t.Context(), enqueuer.Request{ID: "guard-window", ProjectID: project, ClusterID: cluster, Nodes: nodes[3:4], SSHKey: "k"}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "the request waits for the window", func() bool {
		st, err := enq.Status(t.Context(), "guard-window")
		return err == nil && strings.Contains(st.Waiting, "outside every maintenance window of cluster guard-c; the next opens at")
	})
	if _, _, code := proctest.RunAll(t, bin, cli, "", "cluster", "set", cluster, "--no-windows"); code != 0 {
		t.Fatal("cluster set --no-windows")
	}
	if st := waitRequestFinal(t, enq, "guard-window", 60*time.Second); st.State != removal.StateSucceeded || st.Waiting != "" {
		t.Fatalf("guard-window: %+v", st)
	}
}
