package test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

// The secrets of the audit, each distinctive enough that finding it
// anywhere can only be a leak.
const (
	auditNodePassword  = "Sealed-N0de-Pw-q7Zx3v"
	auditCCEToken      = "audit-cce-token-5b0e9c1d7f"
	auditAK            = "AUDITACCESSKEY0123456"
	auditSK            = "audit-secret-key-c3f1e88a42"
	auditSecurityToken = "audit-security-token-0f4d77"
	auditAPIToken      = "audit-api-token-8e21b9d05c"
	auditDashboardUser = "audit-ops"
	auditDashboardPass = "audit-dashboard-pw-4e7b10"
	auditRedisPassword = "audit-redis-pw-99a1f3"
	auditUsername      = "audit"
)

// TestSecretsStayHidden runs real removals with a node password end to
// end, with a worker, the API and the dashboard as processes, once with a
// CCE token and once with AK/SK, and then reads everything the product
// wrote or showed: every key and value in Redis, every line every process
// printed, every task in every state (raw, and as the dashboard shows it),
// the API's answers and the worker's metrics. No plaintext password, CCE
// token, secret key, security token or Redis password is anywhere; the
// password's hash is only in Redis's request records (never in a task,
// a log line, an answer or the dashboard); the API's bearer token and the
// dashboard's password are in no log.
func TestSecretsStayHidden(t *testing.T) {
	if !redistest.HaveServer() {
		t.Skip("needs redis-server (runs worker, api and dashboard processes)")
	}
	bin := proctest.Binary(t, true)
	t.Run("Token", func(t *testing.T) {
		t.Parallel()
		auditSecrets(t, bin, ccetest.Options{Token: auditCCEToken}, []string{"CCE_AUTH_TOKEN=" + auditCCEToken})
	})
	t.Run("AKSK", func(t *testing.T) {
		t.Parallel()
		auditSecrets(t, bin, ccetest.Options{AK: auditAK, SK: auditSK}, []string{"HUAWEICLOUD_SDK_AK=" + auditAK,
			"HUAWEICLOUD_SDK_SK=" + auditSK, "HUAWEICLOUD_SDK_SECURITY_TOKEN=" + auditSecurityToken})
	})
}

// auditRequest is one removal of the audit and how it is enqueued.
type auditRequest struct {
	id, cluster, node, via string // via: go, api, cli, file
	fails                  bool   // CCE fails the node's removal
	cancel                 bool   // cancelled before a worker runs
}

func auditSecrets(t *testing.T, bin string, fakeOpts ccetest.Options, authEnv []string) {
	ctx := t.Context()
	srv := redistest.Start(t, redistest.Options{})
	if err := srv.Client(t).ConfigSet(ctx, "requirepass", auditRedisPassword).Err(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: auditRedisPassword})
	t.Cleanup(func() { _ = rdb.Close() })
	redisURL := "redis://:" + auditRedisPassword + "@" + srv.Addr + "/0"
	checkEventsAtEnd(t, redisURL)

	fakeOpts.JobDuration = 500 * time.Millisecond
	fake := ccetest.NewServer(fakeOpts)
	t.Cleanup(fake.Close)
	reqs := []auditRequest{
		{id: "audit-go", via: "go"}, {id: "audit-api", via: "api"}, {id: "audit-cli", via: "cli"},
		{id: "audit-file", via: "file"}, {id: "audit-fails", via: "api", fails: true},
		{id: "audit-cancel", via: "api", cancel: true},
	}
	for i := range reqs {
		r := &reqs[i]
		r.cluster, r.node = fmt.Sprintf("cluster-%d", i), fmt.Sprintf("0000000a-0000-4000-8000-%012d", i)
		fake.AddNodes(project, r.cluster, r.node)
		if r.fails {
			fake.FailRemoval(r.node)
		}
	}
	// Errors on the way, so that retries, waits and reconciliation (with
	// their error messages) are in the logs, the tasks and the dashboard.
	fake.Inject(ccetest.OpRemoveNodes, 1, ccetest.Fault{Status: http.StatusServiceUnavailable})
	fake.Inject(ccetest.OpRemoveNodes, 1, ccetest.Fault{LoseAnswer: true})
	fake.Inject(ccetest.OpShowJob, 1, ccetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"})

	// Every process gets every secret, as it would from one shared
	// deployment environment, and logs all it can.
	workerHTTP, apiAddr, dashAddr := proctest.FreeAddr(t), proctest.FreeAddr(t), proctest.FreeAddr(t)
	env := append([]string{
		"REDIS_URL=" + redisURL, "CCE_ENDPOINT=" + fake.URL, "LOG_LEVEL=trace",
		"API_ADDR=" + apiAddr, "API_TOKENS=" + auditAPIToken,
		"DASHBOARD_ADDR=" + dashAddr, "DASHBOARD_USER=" + auditDashboardUser, "DASHBOARD_PASSWORD=" + auditDashboardPass,
		"HTTP_ADDR=" + workerHTTP, "CLUSTER_MAX_DISRUPTING=100%", "CLUSTER_MIN_NODES=0", "BATCH_WINDOW=0", "CCE_WRITE_RATE=50/s", "CCE_READ_RATE=50/s",
		"POLL_INTERVAL_MIN=200ms", "POLL_INTERVAL_MAX=500ms", "POLL_FIRST_DELAY=300ms",
		"RETRY_BACKOFF_MIN=100ms", "RETRY_BACKOFF_MAX=500ms",
	}, authEnv...)
	procs := map[string]*proctest.Proc{
		"api":       proctest.Start(t, bin, env, "api"),
		"dashboard": proctest.Start(t, bin, env, "dashboard"),
	}
	testkit.WaitFor(t, 30*time.Second, "api and dashboard listening", func() bool {
		return proctest.Listening(apiAddr) && proctest.Listening(dashAddr)
	})

	seen := auditSeen{}
	seen.add("cli", auditEnqueue(t, bin, env, rdb, apiAddr, reqs))

	// The tasks wait for a worker: the dashboard shows them pending.
	dash := &dashboardScraper{base: "http://" + dashAddr, inspector: asynq.NewInspectorFromRedisClient(rdb)}
	dash.scrape()
	for _, r := range reqs {
		if r.cancel {
			seen.add("api DELETE "+r.id, auditCall(t, http.MethodDelete, "http://"+apiAddr+"/v1/removals/"+r.id, "", http.StatusOK))
		}
	}
	procs["worker"] = proctest.Start(t, bin, env, "worker")
	stop := make(chan struct{})
	var scraping sync.WaitGroup
	scraping.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				dash.scrape()
			}
		}
	})

	enq := enqueuer.New(rdb, enqueuer.Options{})
	t.Cleanup(func() { _ = enq.Close() })
	testkit.WaitFor(t, 60*time.Second, "every request final", func() bool {
		for _, r := range reqs {
			st, err := enq.Status(ctx, r.id)
			if err != nil || !st.State.Final() {
				return false
			}
		}
		return true
	})
	close(stop)
	scraping.Wait()
	dash.scrape()

	// The API's answers about them, and the worker's metrics.
	for _, r := range reqs {
		seen.add("api GET "+r.id, auditCall(t, http.MethodGet, "http://"+apiAddr+"/v1/removals/"+r.id, "", http.StatusOK))
	}
	seen.add("api list", auditCall(t, http.MethodGet, "http://"+apiAddr+"/v1/removals?limit=100", "", http.StatusOK))
	seen.add("api DELETE finished", auditCall(t, http.MethodDelete, "http://"+apiAddr+"/v1/removals/audit-api", "", http.StatusConflict))
	for _, args := range [][]string{{"status", "audit-fails"}, {"list", "--output", "json"}, {"list"}, {"cancel", "audit-go"}} {
		stdout, stderr, _ := proctest.RunAll(t, bin, env, "", args...)
		seen.add("cli", stdout+stderr)
	}
	seen.add("worker metrics", auditCall(t, http.MethodGet, "http://"+workerHTTP+"/metrics", "", http.StatusOK))

	// Stopped, so their shutdown lines are in the logs too.
	for name, p := range procs {
		if err := p.Signal(proctest.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(t, 30*time.Second); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		seen.add("log "+name, p.Stdout()+p.Stderr())
		if out := p.Stderr(); strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic") {
			t.Errorf("%s raced or panicked:\n%s", name, out)
		}
	}
	dash.mu.Lock()
	seen.add("dashboard", dash.shown.String())
	seen.add("raw tasks", dash.raw.String())
	dashErrs := dash.errs
	dash.mu.Unlock()
	for _, err := range dashErrs {
		t.Error(err)
	}

	// Every request ended as its node calls for, with the password.
	store := store.New(rdb, store.Options{})
	var hashes []string
	for _, r := range reqs {
		rec, err := store.Get(ctx, r.id)
		if err != nil {
			t.Fatal(err)
		}
		want := removal.StateSucceeded
		switch {
		case r.fails:
			want = removal.StateFailed
		case r.cancel:
			want = removal.StateCancelled
		}
		if rec.State != want || !removal.VerifyPassword(rec.Login.PasswordHash, auditNodePassword) || rec.Login.Username != auditUsername {
			t.Fatalf("%s: %s (want %s), login %q with the audit password: %v", r.id, rec.State, want,
				rec.Login.Username, removal.VerifyPassword(rec.Login.PasswordHash, auditNodePassword))
		}
		hashes = append(hashes, rec.Login.PasswordHash)
	}
	if n := len(fake.Removals()); n < len(reqs)-1 {
		t.Fatalf("CCE accepted %d removals, want %d", n, len(reqs)-1)
	}

	keys, values := redisContents(t, rdb)
	// Secrets no Redis key, log line, answer or page holds.
	everywhere := map[string]string{
		"the node password": auditNodePassword, "the node password in base64": base64.StdEncoding.EncodeToString([]byte(auditNodePassword)),
		"the CCE token": auditCCEToken, "the secret key": auditSK, "the security token": auditSecurityToken,
		"the Redis password": auditRedisPassword, "the API token": auditAPIToken, "the dashboard password": auditDashboardPass,
	}
	// The stored hash, in each form it could be shown in; only Redis's
	// request records (and the batches carrying them to CCE) hold it.
	hashForms := map[string]string{}
	for i, h := range hashes {
		crypt, _ := base64.StdEncoding.DecodeString(h)
		digest := string(crypt)[strings.LastIndex(string(crypt), "$")+1:]
		hashForms[fmt.Sprintf("password hash %d", i)] = h
		hashForms[fmt.Sprintf("password hash %d as crypt(3)", i)] = string(crypt)
		hashForms[fmt.Sprintf("password hash %d's digest", i)] = digest
	}

	for where, text := range seen {
		for _, forbidden := range []map[string]string{everywhere, hashForms} {
			for what, secret := range forbidden {
				if strings.Contains(text, secret) {
					t.Errorf("%s shows %s: %s", where, what, excerpt(text, secret))
				}
			}
		}
	}
	for key, value := range values {
		for what, secret := range everywhere {
			if strings.Contains(key+"\n"+value, secret) {
				t.Errorf("Redis key %s holds %s: %s", key, what, excerpt(key+"\n"+value, secret))
			}
		}
		// asynq's keys are the tasks, their results and errors: what the
		// dashboard shows, and no place for login material.
		if strings.HasPrefix(key, "asynq:") {
			for what, secret := range hashForms {
				if strings.Contains(value, secret) {
					t.Errorf("Redis key %s holds %s: %s", key, what, excerpt(value, secret))
				}
			}
		}
	}

	// The audit read something: the records hold the hash, the logs and
	// the dashboard name the requests.
	if !strings.Contains(strings.Join(allValues(values), "\n"), hashes[0]) {
		t.Errorf("no Redis value holds the stored password hash; the audit read the wrong thing (%d keys)", len(keys))
	}
	for _, where := range []string{"log worker", "dashboard", "raw tasks"} {
		if !strings.Contains(seen[where], "audit-api") {
			t.Errorf("%s never names request audit-api: the audit looked at nothing", where)
		}
	}
}

// testHTTPClient makes the HTTP calls of these tests.
var testHTTPClient = &http.Client{Timeout: 10 * time.Second}

// auditSeen is what the product showed, by where it showed it.
type auditSeen map[string]string

func (s auditSeen) add(where, text string) { s[where] += text + "\n" }

// auditEnqueue enqueues each request the way it says, every one with the
// node password, and returns what the CLI printed.
func auditEnqueue(tb testing.TB, bin string, env []string, rdb *redis.Client, apiAddr string, reqs []auditRequest) string {
	tb.Helper()
	enq := enqueuer.New(rdb, enqueuer.Options{})
	defer enq.Close()
	var printed strings.Builder
	for _, r := range reqs {
		body := map[string]any{"request_id": r.id, "project_id": project, "cluster_id": r.cluster,
			"nodes": []string{r.node}, "password": auditNodePassword, "username": auditUsername}
		switch r.via {
		case "go":
			if _, err := enq.Enqueue(tb.Context(), enqueuer.Request{ID: r.id, ProjectID: project, ClusterID: r.cluster,
				Nodes: []string{r.node}, Password: auditNodePassword, Username: auditUsername}); err != nil {
				tb.Fatal(err)
			}
		case "api":
			printed.WriteString(auditCall(tb, http.MethodPost, "http://"+apiAddr+"/v1/removals", mustJSON(body), http.StatusAccepted))
		case "cli":
			stdout, stderr, code := proctest.RunAll(tb, bin, env, auditNodePassword+"\n", "enqueue", "--request-id", r.id,
				"--project-id", project, "--cluster-id", r.cluster, "--node", r.node, "--password-stdin", "--username", auditUsername)
			if code != 0 {
				tb.Fatalf("enqueue: exit %d: %s", code, stderr)
			}
			printed.WriteString(stdout + stderr)
		case "file":
			path := filepath.Join(tb.TempDir(), "requests.jsonl")
			if err := os.WriteFile(path, []byte(mustJSON(body)+"\n"), 0o600); err != nil {
				tb.Fatal(err)
			}
			stdout, stderr, code := proctest.RunAll(tb, bin, env, "", "enqueue", "--from-file", path)
			if code != 0 {
				tb.Fatalf("enqueue --from-file: exit %d: %s", code, stderr)
			}
			printed.WriteString(stdout + stderr)
		}
	}
	return printed.String()
}

// auditCall makes one call to the API (with its token) or the worker, and
// returns the answer; a status other than want fails the test.
func auditCall(tb testing.TB, method, u, body string, want int) string {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+auditAPIToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := testHTTPClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != want {
		tb.Fatalf("%s %s: %d %s, want %d", method, u, resp.StatusCode, raw, want)
	}
	return fmt.Sprintf("%v\n%s", resp.Header, raw)
}

// dashboardScraper reads everything the dashboard serves about the queue,
// and, beside it, every task raw through asynq's inspector.
type dashboardScraper struct {
	base      string
	inspector *asynq.Inspector

	mu    sync.Mutex
	shown strings.Builder // the dashboard's answers
	raw   strings.Builder // payloads, results and errors of the tasks as stored
	errs  []error
}

// dashboardLists are the dashboard's task lists, one per state.
var dashboardLists = []string{"active", "pending", "scheduled", "retry", "archived", "completed"}

func (d *dashboardScraper) scrape() {
	paths := []string{"/api/queues", "/api/queue_stats", "/api/servers", "/api/scheduler_entries", "/api/redis_info",
		"/api/queues/" + tasks.Queue, "/api/queues/" + tasks.Queue + "/groups"}
	for _, state := range dashboardLists {
		paths = append(paths, "/api/queues/"+tasks.Queue+"/"+state+"_tasks?size=100")
	}
	var ids []string
	for _, p := range paths {
		body, ok := d.get(p)
		var list struct {
			Tasks []struct {
				ID string `json:"id"`
			} `json:"tasks"`
		}
		if ok && json.Unmarshal([]byte(body), &list) == nil {
			for _, task := range list.Tasks {
				ids = append(ids, task.ID)
			}
		}
	}
	for _, id := range ids {
		d.get("/api/queues/" + tasks.Queue + "/tasks/" + url.PathEscape(id))
	}

	var raw strings.Builder
	lists := map[string]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		"active": d.inspector.ListActiveTasks, "pending": d.inspector.ListPendingTasks,
		"scheduled": d.inspector.ListScheduledTasks, "retry": d.inspector.ListRetryTasks,
		"archived": d.inspector.ListArchivedTasks, "completed": d.inspector.ListCompletedTasks,
	}
	for state, list := range lists {
		infos, _ := list(tasks.Queue, asynq.PageSize(1000))
		for _, info := range infos {
			fmt.Fprintf(&raw, "%s %s %s payload=%s result=%s last_err=%s\n", state, info.ID, info.Type, info.Payload, info.Result, info.LastErr)
		}
	}
	d.mu.Lock()
	d.raw.WriteString(raw.String())
	d.mu.Unlock()
}

// get reads one dashboard path with its basic auth and keeps the answer.
func (d *dashboardScraper) get(path string) (string, bool) {
	req, err := http.NewRequest(http.MethodGet, d.base+path, nil)
	if err != nil {
		d.fail(err)
		return "", false
	}
	req.SetBasicAuth(auditDashboardUser, auditDashboardPass)
	resp, err := testHTTPClient.Do(req)
	if err != nil {
		d.fail(fmt.Errorf("dashboard %s: %w", path, err))
		return "", false
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		d.fail(fmt.Errorf("dashboard %s: %w", path, err))
		return "", false
	}
	d.mu.Lock()
	fmt.Fprintf(&d.shown, "GET %s %d\n%s\n", path, resp.StatusCode, raw)
	d.mu.Unlock()
	// A task may be gone between its list and its page.
	if resp.StatusCode != http.StatusOK && !strings.Contains(path, "/tasks/") {
		d.fail(fmt.Errorf("dashboard %s: %d %s", path, resp.StatusCode, raw))
	}
	return string(raw), resp.StatusCode == http.StatusOK
}

func (d *dashboardScraper) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.errs = append(d.errs, err)
}

// redisContents reads every key of every type, as text.
func redisContents(tb testing.TB, rdb *redis.Client) ([]string, map[string]string) {
	tb.Helper()
	ctx := tb.Context()
	var keys []string
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Fatal(err)
	}
	values := make(map[string]string, len(keys))
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			tb.Fatal(err)
		}
		var v any
		switch typ {
		case "string":
			v, err = rdb.Get(ctx, k).Result()
		case "hash":
			v, err = rdb.HGetAll(ctx, k).Result()
		case "list":
			v, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = rdb.SMembers(ctx, k).Result()
		case "zset":
			v, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, err = rdb.XRange(ctx, k, "-", "+").Result()
		case "none":
			continue // expired since the scan
		default:
			tb.Fatalf("key %s has type %s, which the audit cannot read", k, typ)
		}
		if err != nil {
			tb.Fatal(err)
		}
		values[k] = fmt.Sprintf("%v", v)
	}
	return keys, values
}

func allValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// excerpt shows where secret is in text, without the whole text.
func excerpt(text, secret string) string {
	i := strings.Index(text, secret)
	from, to := max(i-120, 0), min(i+len(secret)+120, len(text))
	return fmt.Sprintf("…%s…", text[from:to])
}
