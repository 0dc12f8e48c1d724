package api_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/noderemover/noderemover/api"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/httpserver"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// Bearer tokens the test servers accept.
const (
	token      = "test-token-0123456789abcdef"
	otherToken = "second-token-ABCDEFGHIJKLMNOP"
)

func uid(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// TestMain runs the tests under the kit's leak check, then, when every test
// ran, checks that each response openapi.json documents was received by
// some test: the document promises nothing the handlers were not seen doing.
func TestMain(m *testing.M) {
	flag.Parse()
	testkit.Main(m, goleak.Cleanup(func(code int) { os.Exit(checkSpecSeen(code)) }))
}

// checkSpecSeen turns the tests' exit code into the binary's: 1 when every
// test ran and passed but some documented response was never received.
func checkSpecSeen(code int) int {
	if code != 0 || flag.Lookup("test.run").Value.String() != "" || flag.Lookup("test.skip").Value.String() != "" ||
		testing.Short() || theSpec == nil {
		return code
	}
	var missing []string
	for _, d := range theSpec.unseen() {
		if strings.HasSuffix(d, " 503") && !redistest.HaveServer() {
			continue // Redis can only be stopped where redis-server runs
		}
		missing = append(missing, d)
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: openapi.json documents responses no test received:\n  %s\n", strings.Join(missing, "\n  "))
		return 1
	}
	return code
}

// logLines decodes the JSON log lines written to s.
func logLines(tb testing.TB, s *testkit.SyncBuffer) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			tb.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// harness is the API on a private Redis, served over real HTTP.
type harness struct {
	tb   testing.TB
	srv  *redistest.Server
	rdb  *redis.Client
	url  string
	logs *testkit.SyncBuffer
	spec *spec
}

// harnessReadTimeout is the test servers' HTTP_READ_TIMEOUT.
const harnessReadTimeout = 2 * time.Second

type harnessOptions struct {
	redis  redistest.Options
	client func(*enqueuer.Client) *enqueuer.Client // replaces the client (nil for the panic test)
	drain  enqueuer.DrainDefaults                  // the fleet's drain settings (none: no Kubernetes access)
	dryRun time.Duration                           // Options.DryRunTimeout
}

func newHarness(tb testing.TB, o harnessOptions) *harness {
	tb.Helper()
	srv := redistest.Start(tb, o.redis)
	rdb := srv.Client(tb)
	real := enqueuer.New(rdb, enqueuer.Options{Drain: o.drain, Regions: []string{"cn-north-4", "eu-west-101"}})
	tb.Cleanup(func() { _ = real.Close() })
	c := real
	if o.client != nil {
		c = o.client(c)
	}
	logs := &testkit.SyncBuffer{}
	h := api.New(c, api.Options{
		Tokens:        []string{token, otherToken},
		Ping:          func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		Logger:        zerolog.New(logs).Level(zerolog.DebugLevel),
		DryRunTimeout: o.dryRun,
	})
	// Served by the server the binary runs (its limits), with a short read
	// timeout for TestSlowBodiesAreCutOff.
	hs := httptest.NewUnstartedServer(h)
	hs.Config = api.NewServer(h, httpserver.Limits{ReadTimeout: harnessReadTimeout}, zerolog.New(logs))
	hs.Start()
	tb.Cleanup(hs.Close)
	return &harness{tb: tb, srv: srv, rdb: rdb, url: hs.URL, logs: logs, spec: loadSpec(tb)}
}

// answer is one response, read to its end.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body as an object.
func (a *answer) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		tb.Fatalf("body is not a JSON object: %v\n%s", err, a.body)
	}
	return m
}

func (a *answer) String() string { return fmt.Sprintf("%d %s", a.status, a.body) }

// edit changes a request before it is sent.
type edit func(*http.Request)

func header(name, value string) edit {
	return func(r *http.Request) {
		if value == "" {
			r.Header.Del(name)
			return
		}
		r.Header.Set(name, value)
	}
}

var noAuth = header("Authorization", "")

// do sends a request with a valid token (and Content-Type application/json
// when there is a body), then checks the answer against openapi.json.
func (h *harness) do(method, path string, body string, edits ...edit) *answer {
	h.tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, e := range edits {
		e(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	a := &answer{status: resp.StatusCode, header: resp.Header, body: raw}
	h.spec.check(h.tb, method, req.URL.EscapedPath(), a)
	return a
}

// post sends a request body to POST /v1/removals.
func (h *harness) post(body string, edits ...edit) *answer {
	h.tb.Helper()
	return h.do(http.MethodPost, "/v1/removals", body, edits...)
}

// mustPost enqueues and fails the test unless the answer is want.
func (h *harness) mustPost(want int, body string) map[string]any {
	h.tb.Helper()
	a := h.post(body)
	if a.status != want {
		h.tb.Fatalf("POST %s: %s, want %d", body, a, want)
	}
	return a.json(h.tb)
}

// wantProblem checks a problem answer: status, problem type (the part after
// /problems/), and the field and detail it names.
func wantProblem(tb testing.TB, a *answer, status int, typ, field, inDetail string) map[string]any {
	tb.Helper()
	if a.status != status {
		tb.Fatalf("answer %s, want %d %s", a, status, typ)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Errorf("Content-Type %q", ct)
	}
	p := a.json(tb)
	if p["type"] != "https://noderemover.dev/problems/"+typ {
		tb.Errorf("type %v, want %s", p["type"], typ)
	}
	if p["status"] != float64(status) {
		tb.Errorf("status member %v", p["status"])
	}
	if got, _ := p["field"].(string); got != field {
		tb.Errorf("field %q, want %q (%s)", got, field, a.body)
	}
	if detail, _ := p["detail"].(string); !strings.Contains(detail, inDetail) {
		tb.Errorf("detail %q does not say %q", detail, inDetail)
	}
	return p
}

// body builds a request body from a valid one and changes; a nil value
// removes the member.
func body(changes map[string]any) string {
	m := map[string]any{"project_id": "p1", "cluster_id": "c1", "nodes": []string{uid(1)}, "ssh_key": "k"}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	raw, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(raw)
}

// dbSize is the number of keys in Redis.
func (h *harness) dbSize() int64 {
	h.tb.Helper()
	n, err := h.rdb.DBSize(h.tb.Context()).Result()
	if err != nil {
		h.tb.Fatal(err)
	}
	return n
}

// redisText returns every value in Redis as text, whatever its type.
func (h *harness) redisText() string {
	h.tb.Helper()
	ctx := h.tb.Context()
	keys, err := h.rdb.Keys(ctx, "*").Result()
	if err != nil {
		h.tb.Fatal(err)
	}
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "\n")
		typ, err := h.rdb.Type(ctx, k).Result()
		if err != nil {
			h.tb.Fatal(err)
		}
		var v any
		switch typ {
		case "string":
			v, err = h.rdb.Get(ctx, k).Result()
		case "hash":
			v, err = h.rdb.HGetAll(ctx, k).Result()
		case "list":
			v, err = h.rdb.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = h.rdb.SMembers(ctx, k).Result()
		case "zset":
			v, err = h.rdb.ZRange(ctx, k, 0, -1).Result()
		case "stream":
			v, err = h.rdb.XRange(ctx, k, "-", "+").Result()
		default:
			h.tb.Fatalf("key %s has type %s", k, typ)
		}
		if err != nil {
			h.tb.Fatal(err)
		}
		fmt.Fprintf(&b, "%v\n", v)
	}
	return b.String()
}
