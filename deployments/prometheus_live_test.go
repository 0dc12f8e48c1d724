package deployments

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/metrics"
	"github.com/noderemover/noderemover/worker"
)

// How a query of the rules is made one whose answer says something. An
// alert's expression is a condition (`... > 0.25`, `absent(...)`): it
// returns nothing while all is well, which is also what a misspelled metric
// returns. So each alert expression is asked as it is (it must not be an
// error) and, for data, with its comparisons to a number left out
// (`A / B > 0.25` becomes `A / B`; `X > 0 and Y == 0` becomes `X and Y`,
// which has data only when both sides have) and absent(X) as X (absent is
// empty exactly when X has data). What is left must have no comparison, or
// the test cannot say what data means and fails.
var (
	numberComparison = regexp.MustCompile(`\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\b`)
	absentCall       = regexp.MustCompile(`(?s)^\s*absent\((.*)\)\s*$`)
	labelMatchers    = regexp.MustCompile(`\{[^}]*\}`)
	leftComparison   = regexp.MustCompile(`==|!=|>=|<=|[<>]`)
)

// dataQuery is the query that must return data for expr to be meaningful.
func dataQuery(expr string) (string, error) {
	q := numberComparison.ReplaceAllString(expr, "")
	if m := absentCall.FindStringSubmatch(q); m != nil {
		q = m[1]
	}
	q = strings.TrimSpace(q)
	if leftComparison.MatchString(labelMatchers.ReplaceAllString(q, "{}")) {
		return "", fmt.Errorf("%q still compares after leaving out comparisons to numbers: write the rule as `A > number`", q)
	}
	return q, nil
}

func TestDataQuery(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{"max(x) > 7200", "max(x)"},
		{"sum(rate(a[5m]))\n  / sum(rate(b[5m])) > 0.1\n", "sum(rate(a[5m]))\n  / sum(rate(b[5m]))"},
		{`max(p{state="pending"}) > 0 and max(increase(q[10m])) == 0`, `max(p{state="pending"}) and max(increase(q[10m]))`},
		{`absent(up{job="noderemover-worker"} == 1)`, `up{job="noderemover-worker"}`},
		{`min by (job) (x) < 0`, `min by (job) (x)`},
		{`sum by (kind) (a) - sum by (kind) (b)`, `sum by (kind) (a) - sum by (kind) (b)`},
		{`x{code!="200"} > 1e3`, `x{code!="200"}`},
	} {
		if got, err := dataQuery(c.expr); err != nil || got != c.want {
			t.Errorf("dataQuery(%q) = %q, %v; want %q", c.expr, got, err, c.want)
		}
	}
	if q, err := dataQuery("a > b"); err == nil {
		t.Errorf("dataQuery(a > b) = %q, want an error", q)
	}
}

// TestPrometheusAnswersEveryQuery runs a real Prometheus (Debian's
// /usr/bin/prometheus, a private process on a free port with its own
// storage) that scrapes every second a worker run in process, with the
// rules of rules.yaml loaded. The worker removes nodes through the fake
// CCE, one of them failing, after a 429 and a refused credential. Then
// every expression of the rules and of the Grafana dashboard is asked of
// Prometheus' HTTP API: none is an error, each has data (alerts as
// dataQuery says), and Prometheus evaluates every rule without an error. A
// metric renamed, relabelled or gone fails it.
func TestPrometheusAnswersEveryQuery(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs a worker and a Prometheus")
	}
	promBin := lookPrometheus(t, "prometheus")
	if !redistest.HaveServer() {
		if os.Getenv(requirePrometheus) != "" {
			t.Fatal("needs redis-server")
		}
		t.Skip("needs redis-server")
	}

	// The queries, taken from the files, so that the files are what is tested.
	type query struct{ from, expr, data string }
	var queries []query
	var alertNames []string
	for _, a := range readRules(t).alerts() {
		alertNames = append(alertNames, a.Alert)
		q, err := dataQuery(a.Expr)
		if err != nil {
			t.Fatalf("alert %s: %v", a.Alert, err)
		}
		queries = append(queries, query{"alert " + a.Alert, a.Expr, q})
	}
	for _, p := range readDashboard(t).Panels {
		for _, tg := range p.Targets {
			queries = append(queries, query{fmt.Sprintf("panel %q %s", p.Title, tg.RefID), tg.Expr, tg.Expr})
		}
	}

	// A worker wired as `noderemover worker` wires it, its /metrics served.
	const token = "live-test-token"
	const liveRegion = "cn-north-4"
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	fake := ccetest.NewServer(ccetest.Options{JobDuration: 300 * time.Millisecond, Token: token})
	t.Cleanup(fake.Close)
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() { _ = inspector.Close() })
	st := store.New(rdb, store.Options{})
	reg := metrics.NewRegistry()
	m := metrics.New(reg, metrics.Options{
		OpenRequests: st.OpenCount, OldestOpen: st.OldestOpen, Inspector: inspector, Paused: st.Paused,
		Regions: []string{liveRegion},
	})
	api, err := cce.New(cce.Config{Endpoint: fake.URL, Auth: cce.TokenAuth{Token: token}, Timeout: 2 * time.Second, Observe: m.CCECalls(liveRegion)})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(rdb, api, worker.Config{
		Concurrency:     8,
		RetryBackoffMin: 100 * time.Millisecond, RetryBackoffMax: 500 * time.Millisecond,
		PollIntervalMin: 200 * time.Millisecond, PollIntervalMax: 500 * time.Millisecond,
		PollFirstDelay: 200 * time.Millisecond, PollTimeout: time.Minute,
		CCETimeout: 2 * time.Second, ShutdownTimeout: 5 * time.Second, CredentialsGrace: time.Minute,
		Metrics: m, Region: liveRegion,
		Logger: zerolog.Nop(),
	})
	hs := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(hs.Close)

	// Prometheus, scraping the worker as the rules expect its job.
	rulesPath, err := filepath.Abs(filepath.Join(promDir, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: %s
    static_configs:
      - targets: [%q]
`, rulesPath, workerJob, hs.Listener.Addr().String())
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := proctest.FreeAddr(t)
	proctest.Start(t, promBin, nil, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	prom := &promAPI{base: "http://" + promAddr, client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}}
	t.Cleanup(prom.client.CloseIdleConnections)

	// Removals, with a 429, a refused credential and a node CCE fails.
	fake.Inject(ccetest.OpRemoveNodes, 1, ccetest.Fault{Status: 429, Code: "APIG.0308", Gateway: true})
	fake.Inject(ccetest.OpShowCluster, 1, ccetest.Fault{Status: 401})
	const project = "0123456789abcdef0123456789abcdef"
	enq := enqueuer.New(rdb, enqueuer.Options{DefaultRegion: liveRegion})
	t.Cleanup(func() { _ = enq.Close() })
	reqs := map[string][]string{
		"live-a": {"10000000-0000-4000-8000-000000000001", "10000000-0000-4000-8000-000000000002", "10000000-0000-4000-8000-000000000bad"},
		"live-b": {"20000000-0000-4000-8000-000000000001", "20000000-0000-4000-8000-000000000002"},
	}
	fake.FailRemoval(reqs["live-a"][2])
	for id, nodes := range reqs {
		cluster := "cluster-" + id
		fake.AddNodes(project, cluster, nodes...)
		if _, err := enq.Enqueue(t.Context(), enqueuer.Request{ID: id, ProjectID: project, ClusterID: cluster, Nodes: nodes, SSHKey: "kp"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)
	for id := range reqs {
		testkit.WaitFor(t, 30*time.Second, "request "+id+" final", func() bool {
			s, err := enq.Status(t.Context(), id)
			return err == nil && s.State.Final()
		})
	}

	// Prometheus has seen the end: the failed node, the 429 and the refusal.
	for _, q := range []string{
		`sum(noderemover_nodes_finished_total{outcome="failed"}) >= 1`,
		`sum(noderemover_nodes_finished_total{outcome="removed"}) >= 4`,
		`sum(noderemover_cce_throttled_total) >= 1`,
		`sum(noderemover_cce_credentials_refused_total) >= 1`,
	} {
		testkit.WaitFor(t, time.Minute, "Prometheus to answer "+q, func() bool {
			n, err := prom.query(q)
			return err == nil && n > 0
		})
	}

	// Every query answers with data, and every rule is evaluated without an
	// error. rate() and increase() need two samples after the change: wait
	// for them rather than for a time.
	var missing []string
	t.Cleanup(func() {
		if t.Failed() && len(missing) > 0 {
			t.Logf("still without data or with an error:\n  %s", strings.Join(missing, "\n  "))
		}
	})
	testkit.WaitFor(t, time.Minute, "every query of the rules and the dashboard to have data", func() bool {
		missing = missing[:0]
		for _, q := range queries {
			if _, err := prom.query(q.expr); err != nil {
				missing = append(missing, fmt.Sprintf("%s: %s: %v", q.from, q.expr, err))
				continue
			}
			if n, err := prom.query(q.data); err != nil || n == 0 {
				missing = append(missing, fmt.Sprintf("%s: %s: %d series, %v", q.from, q.data, n, err))
			}
		}
		missing = append(missing, prom.ruleProblems(alertNames)...)
		return len(missing) == 0
	})
}

// promAPI asks a Prometheus' HTTP API.
type promAPI struct {
	base   string
	client *http.Client
}

// query runs an instant query and returns how many series (or one scalar)
// it answered.
func (p *promAPI) query(q string) (int, error) {
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(q), &body); err != nil {
		return 0, err
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("status %s: %s", body.Status, body.Error)
	}
	switch body.Data.ResultType {
	case "vector", "matrix":
		var series []json.RawMessage
		if err := json.Unmarshal(body.Data.Result, &series); err != nil {
			return 0, err
		}
		return len(series), nil
	case "scalar":
		return 1, nil
	}
	return 0, fmt.Errorf("result type %q", body.Data.ResultType)
}

// ruleProblems lists the rules Prometheus has not evaluated yet or could
// not evaluate, and the alerts it did not load.
func (p *promAPI) ruleProblems(alerts []string) []string {
	var body struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := p.get("/api/v1/rules", &body); err != nil {
		return []string{"rules: " + err.Error()}
	}
	var out, loaded []string
	for _, g := range body.Data.Groups {
		for _, r := range g.Rules {
			loaded = append(loaded, r.Name)
			if r.Health != "ok" {
				out = append(out, fmt.Sprintf("rule %s: health %q %s", r.Name, r.Health, r.LastError))
			}
		}
	}
	for _, a := range alerts {
		if !slices.Contains(loaded, a) {
			out = append(out, "alert "+a+" not loaded by Prometheus")
		}
	}
	return out
}

func (p *promAPI) get(path string, v any) error {
	resp, err := p.client.Get(p.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %d: %w", path, resp.StatusCode, err)
	}
	return nil
}
