package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
)

func TestClusterSettings(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.do(http.MethodGet, "/v1/clusters/c1", "")
	if a.status != 200 {
		t.Fatalf("get: %s", a)
	}
	eff, _ := a.json(t)["effective"].(map[string]any)
	if eff["max_disrupting"] != "10%" || eff["min_nodes"] != 1.0 || a.json(t)["paused"] != nil {
		t.Errorf("the fleet's defaults: %s", a.body)
	}
	put := `{"max_disrupting": "2", "min_nodes": 3, "windows": [{"cron": "0 2 * * 1-5", "duration": "4h", "time_zone": "Europe/Berlin"}]}`
	a = h.do(http.MethodPut, "/v1/clusters/c1", put)
	if a.status != 200 {
		t.Fatalf("put: %s", a)
	}
	if eff, _ := a.json(t)["effective"].(map[string]any); eff["max_disrupting"] != "2" || eff["min_nodes"] != 3.0 || len(eff["windows"].([]any)) != 1 {
		t.Errorf("after put: %s", a.body)
	}
	h.do(http.MethodPost, "/v1/clusters/c1/pause", "")
	if a := h.do(http.MethodGet, "/v1/clusters/c1", ""); !strings.Contains(string(a.body), `"scope":"c1"`) ||
		!strings.Contains(string(a.body), `"max_disrupting":"2"`) {
		t.Errorf("get after put and pause: %s", a.body)
	}
	// PUT replaces: what it leaves out is the fleet's again.
	if a := h.do(http.MethodPut, "/v1/clusters/c1", `{"min_nodes": 0}`); !strings.Contains(string(a.body), `"settings":{"min_nodes":0}`) {
		t.Errorf("replace: %s", a.body)
	}
	for _, tc := range []struct{ body, field, detail string }{
		{`{"max_disrupting": "ten"}`, "max_disrupting", "neither a count"},
		{`{"max_disrupting": "120%"}`, "max_disrupting", "0% to 100%"},
		{`{"min_nodes": -1}`, "min_nodes", "0 or more"},
		{`{"min_nodes": "2"}`, "min_nodes", "not a number"},
		{`{"windows": [{"cron": "61 * * * *", "duration": "1h", "time_zone": "UTC"}]}`, "windows[0].cron", "not a cron expression"},
		{`{"windows": [{"cron": "0 2 * * *", "duration": "0s", "time_zone": "UTC"}]}`, "windows[0].duration", "at most 168h"},
		{`{"windows": [{"cron": "0 2 * * *", "duration": "1h", "time_zone": "Mars/Olympus"}]}`, "windows[0].time_zone", "not a time zone"},
		{`{"paused": true}`, "paused", "not a setting"},
		{`{} {}`, "", "more data"},
	} {
		wantProblem(t, h.do(http.MethodPut, "/v1/clusters/c1", tc.body), 400, "invalid-request", tc.field, tc.detail)
	}
	if a := h.do(http.MethodGet, "/v1/clusters/c1", ""); !strings.Contains(string(a.body), `"settings":{"min_nodes":0}`) {
		t.Errorf("a refused put changed the settings: %s", a.body)
	}
	wantProblem(t, h.do(http.MethodGet, "/v1/clusters/bad.id", ""), 400, "invalid-request", "cluster_id", "")
	wantProblem(t, h.do(http.MethodPut, "/v1/clusters/c1", "{}", header("Content-Type", "text/plain")), 415, "unsupported-media-type", "", "")
	wantProblem(t, h.do(http.MethodPut, "/v1/clusters/c1", `{"windows": "`+strings.Repeat("x", 1<<20+10)+`"}`), 413, "body-too-large", "", "")
	for _, m := range []string{http.MethodGet, http.MethodPut} {
		if a := h.do(m, "/v1/clusters/c1", "{}", noAuth); a.status != 401 {
			t.Errorf("%s without a token: %s", m, a)
		}
	}
}

// answerDryRuns answers each dry run through the store, as a worker does,
// with every node ok but uid(2), until the test ends.
func answerDryRuns(t *testing.T, h *harness) {
	st := store.New(h.rdb, store.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			q, err := st.NextQuestion(ctx, time.Second)
			if err != nil || q == nil {
				continue
			}
			reasons := map[string][]string{uid(2): {"not in cluster " + q.ClusterID + " (CCE ListNodes)"}}
			_ = st.Answer(ctx, q.ID, removal.NewDryRun(q.Nodes, reasons), nil)
		}
	}()
}

func TestDryRun(t *testing.T) {
	h := newHarness(t, harnessOptions{dryRun: time.Second})
	// No worker: 503 no-worker, nothing stored.
	a := h.do(http.MethodPost, "/v1/removals?dry_run=true", body(nil))
	wantProblem(t, a, 503, "no-worker", "", "no worker answered")
	if n := h.dbSize(); n != 0 {
		t.Errorf("a dry run no worker answered left %d keys", n)
	}
	answerDryRuns(t, h)
	a = h.do(http.MethodPost, "/v1/removals?dry_run=true", body(map[string]any{"nodes": []string{uid(1), uid(2)}}))
	if a.status != 200 || a.header.Get("Location") != "" {
		t.Fatalf("dry run: %s", a)
	}
	got := a.json(t)
	nodes, _ := got["nodes"].([]any)
	if got["dry_run"] != true || got["ok"] != false || len(nodes) != 2 ||
		nodes[0].(map[string]any)["verdict"] != "ok" || nodes[1].(map[string]any)["verdict"] != "blocked" ||
		!strings.Contains(string(a.body), "not in cluster c1") {
		t.Errorf("dry run: %s", a.body)
	}
	if n := h.dbSize(); n != 0 {
		t.Errorf("a dry run left %d keys", n)
	}
	if a := h.do(http.MethodPost, "/v1/removals?dry_run=true", body(nil)); a.status != 200 || a.json(t)["ok"] != true {
		t.Errorf("dry run, ok: %s", a)
	}
	// dry_run=false is an ordinary POST; an invalid request is 400 either way.
	if a := h.do(http.MethodPost, "/v1/removals?dry_run=false", body(nil)); a.status != 202 {
		t.Errorf("dry_run=false: %s", a)
	}
	wantProblem(t, h.do(http.MethodPost, "/v1/removals?dry_run=true", body(map[string]any{"nodes": []string{"x"}})), 400, "invalid-request", "nodes[0]", "")
}
