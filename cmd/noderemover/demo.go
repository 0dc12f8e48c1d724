package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/worker"
)

const demoProject = "0123456789abcdef0123456789abcdef"

// demoRequests are the removals the demo asks for; the node ending in 0bad
// fails its removal on purpose.
var demoRequests = []enqueuer.Request{
	{ID: "demo-scale-down-a", ProjectID: demoProject, ClusterID: "cluster-a", SSHKey: "ops-keypair",
		Nodes: []string{"a0000000-0000-4000-8000-000000000001", "a0000000-0000-4000-8000-000000000002", "a0000000-0000-4000-8000-000000000003"}},
	{ID: "demo-scale-down-b", ProjectID: demoProject, ClusterID: "cluster-b", Password: "Demo-Passw0rd!", Username: "root",
		Nodes: []string{"b0000000-0000-4000-8000-000000000001", "b0000000-0000-4000-8000-000000000002"}},
	{ID: "demo-broken-node", ProjectID: demoProject, ClusterID: "cluster-a", SSHKey: "ops-keypair",
		Nodes: []string{"a0000000-0000-4000-8000-000000000bad"}},
	{ID: "demo-one-more", ProjectID: demoProject, ClusterID: "cluster-b", SSHKey: "ops-keypair",
		Nodes: []string{"b0000000-0000-4000-8000-000000000003"}},
	{ID: "demo-autoscaler-1", ProjectID: demoProject, ClusterID: "cluster-c", SSHKey: "ops-keypair",
		Nodes: []string{"c0000000-0000-4000-8000-000000000001"}},
	{ID: "demo-autoscaler-2", ProjectID: demoProject, ClusterID: "cluster-c", SSHKey: "ops-keypair",
		Nodes: []string{"c0000000-0000-4000-8000-000000000002"}},
	{ID: "demo-autoscaler-3", ProjectID: demoProject, ClusterID: "cluster-c", SSHKey: "ops-keypair",
		Nodes: []string{"c0000000-0000-4000-8000-000000000003"}},
}

func runDemo(ctx context.Context, args []string, std stdio, _ config.Getenv) int {
	f := newFlags("demo", std)
	jobDuration := f.Duration("job-duration", 2*time.Second, "how long the fake CCE's removal jobs run")
	verbose := f.Bool("verbose", false, "show the worker's log")
	timeout := f.Duration("timeout", 2*time.Minute, "give up when the removals take longer")
	if code, ok := f.parse(args); !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	out := std.out
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }

	mr, err := miniredis.Run()
	if err != nil {
		return fail(std, exitFailure, "demo: in-process Redis: %v", err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	step("in-process Redis (miniredis) on %s", mr.Addr())

	const tokenTTL = 3 * time.Second
	iam := ccetest.NewIAM(ccetest.IAMOptions{Domain: "demo-account", Users: map[string]string{"demo-robot": "demo-password"}, TokenTTL: tokenTTL})
	defer iam.Close()
	step("fake IAM on %s: its tokens last %v; the worker obtains them with a password and renews them", iam.URL, tokenTTL)
	fake := ccetest.NewServer(ccetest.Options{JobDuration: *jobDuration, IAM: iam})
	defer fake.Close()
	for _, r := range demoRequests {
		fake.AddNodes(r.ProjectID, r.ClusterID, r.Nodes...)
	}
	fake.FailRemoval("a0000000-0000-4000-8000-000000000bad")
	fake.Inject(ccetest.OpRemoveNodes, 1, ccetest.Fault{Status: 503})
	step("fake CCE on %s: jobs take %v, one node's removal will fail, the first RemoveNode call gets a 503", fake.URL, *jobDuration)

	auth := &cce.IAMPassword{Endpoint: iam.URL, Domain: "demo-account", User: "demo-robot",
		Password: func() (string, error) { return "demo-password", nil }}
	api, err := cce.New(cce.Config{Endpoint: fake.URL, Auth: auth, Timeout: 5 * time.Second})
	if err != nil {
		return fail(std, exitFailure, "demo: %v", err)
	}
	start := time.Now()
	var logw io.Writer = &demoEvents{out: out, start: start}
	if *verbose {
		logw = zerolog.ConsoleWriter{Out: std.err, TimeFormat: "15:04:05.000"}
	}
	w := worker.New(rdb, api, worker.Config{
		Concurrency: 4, RetryBackoffMin: 500 * time.Millisecond, RetryBackoffMax: 2 * time.Second,
		BatchWindow: time.Second, WriteRate: 5, ReadRate: 50,
		PollIntervalMin: 200 * time.Millisecond, PollIntervalMax: time.Second, PollFirstDelay: *jobDuration / 2,
		CCETimeout: 5 * time.Second, ShutdownTimeout: 5 * time.Second,
		Logger: zerolog.New(logw).With().Timestamp().Logger(),
	})
	if err := w.Start(); err != nil {
		return fail(std, exitFailure, "demo: %v", err)
	}
	defer w.Shutdown()
	step("worker started: requests for one cluster and login wait up to 1s to share a RemoveNode call; one job per cluster at a time; polls every 200ms to 1s")

	client := enqueuer.New(rdb, enqueuer.Options{})
	defer client.Close()
	for _, r := range demoRequests {
		st, err := client.Enqueue(ctx, r)
		if err != nil {
			return fail(std, exitFailure, "demo: enqueue %s: %v", r.ID, err)
		}
		step("enqueued %s: %d node(s) of %s", st.RequestID, len(st.Nodes), st.ClusterID)
	}
	if _, err := client.Enqueue(ctx, demoRequests[0]); err == nil {
		step("enqueued %s again: still one removal (idempotent)", demoRequests[0].ID)
	}
	dup := enqueuer.Request{ProjectID: demoProject, ClusterID: "cluster-a", SSHKey: "ops-keypair", Nodes: demoRequests[0].Nodes[:1]}
	if _, err := client.Enqueue(ctx, dup); err != nil {
		step("refused a new request for a node already being removed: %v", err)
	}

	dry := enqueuer.Request{ProjectID: demoProject, ClusterID: "cluster-a", SSHKey: "ops-keypair",
		Nodes: []string{demoRequests[0].Nodes[0], "a0000000-0000-4000-8000-00000000dead"}}
	if d, err := client.Preflight(ctx, dry); err == nil {
		for _, n := range d.Nodes {
			step("dry run (nothing stored): node %s %s: %s", n.UID, n.Verdict, strings.Join(n.Reasons, "; "))
		}
	}

	final, err := waitAllFinal(ctx, client)
	if err != nil {
		return fail(std, exitFailure, "demo: %v", err)
	}
	fmt.Fprintln(out)
	printNodeTable(out, final)
	nodes := 0
	for _, r := range demoRequests {
		nodes += len(r.Nodes)
	}
	fmt.Fprintf(out, "\n%d requests for %d nodes took %d accepted RemoveNode calls (%d calls in all, %d answered 429) and %d ShowJob polls; no node was removed twice: %v\n",
		len(demoRequests), nodes, len(fake.Removals()), fake.Calls(ccetest.OpRemoveNodes), fake.Answers(ccetest.OpRemoveNodes, 429),
		fake.Calls(ccetest.OpShowJob), len(fake.DoubleRemovals()) == 0)
	fmt.Fprintf(out, "IAM issued %d tokens of %v each on the way; no call was refused for them: %v\n",
		iam.Issued(), tokenTTL, fake.Answers(ccetest.OpAny, 401) == 0)
	return exitOK
}

// waitAllFinal waits until every demo request is final, hearing of it from
// the event stream (enqueuer.Client.Wait), as a producer would.
func waitAllFinal(ctx context.Context, client *enqueuer.Client) ([]enqueuer.Status, error) {
	all := make([]enqueuer.Status, 0, len(demoRequests))
	for _, r := range demoRequests {
		st, err := client.Wait(ctx, r.ID)
		if err != nil {
			return nil, fmt.Errorf("request %s not finished: %w", r.ID, err)
		}
		all = append(all, st)
	}
	return all, nil
}

// demoEvents turns the worker's JSON log into one short line per request
// state change, CCE call and problem, as they happen.
type demoEvents struct {
	mu    sync.Mutex
	out   io.Writer
	start time.Time
}

func (d *demoEvents) Write(p []byte) (int, error) {
	var ev struct {
		Level     string   `json:"level"`
		Message   string   `json:"message"`
		RequestID string   `json:"request_id"`
		Requests  []string `json:"request_ids"`
		From      string   `json:"from"`
		State     string   `json:"state"`
		JobID     string   `json:"job_id"`
		Attempt   int      `json:"attempt"`
		Error     string   `json:"error"`
		Component string   `json:"component"`
	}
	if json.Unmarshal(p, &ev) != nil || ev.Component != "" || ev.Level == "debug" {
		return len(p), nil
	}
	var line string
	switch {
	case ev.RequestID != "" && ev.State != "":
		line = fmt.Sprintf("%-18s %s → %s", ev.RequestID, ev.From, ev.State)
		if ev.JobID != "" && ev.State == "polling" {
			line += " (job " + ev.JobID + ")"
		}
		if ev.State == "failed" {
			line += ": " + ev.Error
		}
	case ev.Message == "calling RemoveNode":
		line = fmt.Sprintf("%-18s RemoveNode call, attempt %d", strings.Join(ev.Requests, ","), ev.Attempt)
	case ev.Message == "task returned an error":
		return len(p), nil
	case strings.HasPrefix(ev.Message, "reconciled"):
		line = fmt.Sprintf("%-18s asked CCE about each node: %s", strings.Join(ev.Requests, ","), strings.TrimPrefix(ev.Message, "reconciled: "))
	case ev.Error != "":
		line = fmt.Sprintf("%-18s %s: %s", strings.Join(ev.Requests, ","), ev.Message, shortError(ev.Error))
	default:
		return len(p), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "  %5.1fs  %s\n", time.Since(d.start).Seconds(), line)
	return len(p), nil
}

// shortError keeps the HTTP status, code and message of a CCE error.
func shortError(s string) string {
	if i := strings.Index(s, "HTTP "); i >= 0 {
		s = s[i:]
	}
	if i := strings.Index(s, " (request id"); i >= 0 {
		s = s[:i]
	}
	return s
}

func printNodeTable(out io.Writer, all []enqueuer.Status) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUEST\tSTATE\tCLUSTER\tNODE\tNODE STATE\tREASON")
	for _, st := range all {
		for _, n := range st.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.RequestID, st.State, st.ClusterID, n.UID, n.State, strings.TrimSpace(n.Reason))
		}
	}
	tw.Flush()
}
