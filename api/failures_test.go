package api_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/testkit"
)

// TestRedisDown stops Redis under the API: every call that needs it answers
// 503 with Retry-After and no internals, the cause is logged, readiness
// fails, liveness holds, and once Redis is back nothing of the refused
// calls is there.
func TestRedisDown(t *testing.T) {
	h := newHarness(t, harnessOptions{redis: redistestAppendOnly})
	h.mustPost(http.StatusAccepted, body(map[string]any{"request_id": "before"}))
	keysBefore := h.dbSize()
	h.srv.Stop(t) // skips where redis-server is not installed

	calls := []struct{ method, path, body string }{
		{http.MethodPost, "/v1/removals", body(map[string]any{"request_id": "during", "nodes": []string{uid(7)}})},
		{http.MethodPost, "/v1/removals", body(map[string]any{"nodes": []string{uid(8)}})}, // unnamed: no existence check first
		{http.MethodGet, "/v1/removals/before", ""},
		{http.MethodDelete, "/v1/removals/before", ""},
		{http.MethodGet, "/v1/removals?state=queued", ""},
		{http.MethodPost, "/v1/pause", ""},
		{http.MethodPost, "/v1/resume", ""},
		{http.MethodPost, "/v1/clusters/c1/pause", ""},
		{http.MethodPost, "/v1/clusters/c1/resume", ""},
		{http.MethodGet, "/v1/clusters/c1", ""},
		{http.MethodPut, "/v1/clusters/c1", `{"min_nodes": 2}`},
		{http.MethodPost, "/v1/removals?dry_run=true", body(map[string]any{"nodes": []string{uid(9)}})},
		{http.MethodGet, "/v1/redis", ""},
		{http.MethodPost, "/v1/redis/ack", ""},
	}
	for _, c := range calls {
		a := h.do(c.method, c.path, c.body)
		p := wantProblem(t, a, http.StatusServiceUnavailable, "redis-unavailable", "", "try again")
		if p["title"] != "Redis unavailable" || a.header.Get("Retry-After") != "5" {
			t.Errorf("%s %s: %v, Retry-After %q", c.method, c.path, p, a.header.Get("Retry-After"))
		}
		for _, internal := range []string{h.srv.Addr, "dial", "refused", "redis:", "{noderemover}"} {
			if strings.Contains(string(a.body), internal) {
				t.Errorf("%s %s: the answer shows internals (%q): %s", c.method, c.path, internal, a.body)
			}
		}
	}
	if a := h.do(http.MethodGet, "/readyz", "", noAuth); a.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with Redis down: %s", a)
	}
	if a := h.do(http.MethodGet, "/healthz", "", noAuth); a.status != http.StatusOK {
		t.Errorf("healthz with Redis down: %s", a)
	}
	// Bad input is still told apart from an outage: it never reaches Redis.
	wantProblem(t, h.post(body(map[string]any{"nodes": []string{}})), 400, "invalid-request", "nodes", "")

	// Each 503 is logged with its cause and the exchange's id.
	logged := 0
	for _, l := range logLines(t, h.logs) {
		if l["message"] == "redis call failed; answered 503" {
			logged++
			if l["error"] == "" || l["http_request_id"] == nil || l["level"] != "error" {
				t.Errorf("log line %v", l)
			}
		}
	}
	if logged != len(calls) {
		t.Errorf("%d 503s logged, want %d", logged, len(calls))
	}

	h.srv.Restart(t)
	// The API finds Redis again by itself.
	testkit.WaitFor(t, 15*time.Second, "readyz with Redis back", func() bool {
		return h.do(http.MethodGet, "/readyz", "", noAuth).status == http.StatusOK
	})
	if n := h.dbSize(); n != keysBefore {
		t.Errorf("keys %d after the outage, %d before: something was half-written", n, keysBefore)
	}
	if a := h.do(http.MethodGet, "/v1/removals/during", ""); a.status != http.StatusNotFound {
		t.Errorf("a request refused with 503 was stored: %s", a)
	}
	if a := h.do(http.MethodGet, "/v1/removals/before", ""); a.status != http.StatusOK || a.json(t)["state"] != "queued" {
		t.Errorf("the request from before: %s", a)
	}
	// The refused request goes through once Redis is back.
	h.mustPost(http.StatusAccepted, body(map[string]any{"request_id": "during", "nodes": []string{uid(7)}}))
}

// TestPanicIsRecovered: a handler that panics (here: no enqueuer at all, a
// wiring bug) answers a 500 problem, is logged with its stack, and the
// server keeps serving.
func TestPanicIsRecovered(t *testing.T) {
	h := newHarness(t, harnessOptions{client: func(*enqueuer.Client) *enqueuer.Client { return nil }})
	calls := []struct{ method, path, body string }{
		{http.MethodPost, "/v1/removals", body(nil)},
		{http.MethodGet, "/v1/removals", ""},
		{http.MethodGet, "/v1/removals/x1", ""},
		{http.MethodGet, "/v1/events", ""},
		{http.MethodDelete, "/v1/removals/x1", ""},
		{http.MethodPost, "/v1/pause", ""},
		{http.MethodPost, "/v1/resume", ""},
		{http.MethodPost, "/v1/clusters/c1/pause", ""},
		{http.MethodPost, "/v1/clusters/c1/resume", ""},
		{http.MethodGet, "/v1/clusters/c1", ""},
		{http.MethodPut, "/v1/clusters/c1", `{}`},
		{http.MethodGet, "/v1/redis", ""},
		{http.MethodPost, "/v1/redis/ack", ""},
	}
	for _, c := range calls {
		a := h.do(c.method, c.path, c.body)
		p := wantProblem(t, a, http.StatusInternalServerError, "internal-error", "", a.header.Get("X-Request-Id"))
		if strings.Contains(string(a.body), "nil pointer") || strings.Contains(string(a.body), "goroutine") {
			t.Errorf("the answer shows internals: %v", p)
		}
	}
	if a := h.do(http.MethodGet, "/healthz", "", noAuth); a.status != http.StatusOK {
		t.Fatalf("the server stopped serving: %s", a)
	}
	panics := 0
	for _, l := range logLines(t, h.logs) {
		if l["message"] == "handler panicked; answered 500" {
			panics++
			if !strings.Contains(l["panic"].(string), "nil pointer") || l["stack"] == nil {
				t.Errorf("log line %v", l)
			}
		}
	}
	if panics != len(calls) {
		t.Errorf("%d panics logged, want %d", panics, len(calls))
	}
}

// TestSecretsStayOut: a password sent in a POST is in no answer, no log
// line and nowhere in Redis; no token is logged.
func TestSecretsStayOut(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const password = "Plaintext-Pa55word-4711"
	ok := body(map[string]any{"request_id": "pw-1", "ssh_key": nil, "password": password, "username": "admin"})
	answers := []*answer{
		h.post(ok),
		h.post(ok), // the repeat
		h.do(http.MethodGet, "/v1/removals/pw-1", ""),
		h.do(http.MethodGet, "/v1/removals", ""),
		// Refused for another reason while it carries the password.
		h.post(body(map[string]any{"request_id": "pw-2", "ssh_key": nil, "password": password, "nodes": []string{"x"}})),
		h.post(body(map[string]any{"request_id": "pw-3", "password": password})),
		h.post(body(map[string]any{"request_id": "pw-4", "ssh_key": nil, "password": password, "extra": password})),
		h.post(body(map[string]any{"request_id": "pw-1", "ssh_key": nil, "password": password, "nodes": []string{uid(9)}})),
		h.post(ok, noAuth),
		h.post(ok, header("Authorization", "Bearer wrong-"+token)),
		h.do(http.MethodDelete, "/v1/removals/pw-1", ""),
	}
	wantCodes := []int{202, 200, 200, 200, 400, 400, 400, 409, 401, 401, 200}
	for i, a := range answers {
		if a.status != wantCodes[i] {
			t.Errorf("call %d: %s, want %d", i, a, wantCodes[i])
		}
		if strings.Contains(string(a.body), password) || strings.Contains(a.header.Get("Location"), password) {
			t.Errorf("call %d: the answer holds the password: %s", i, a.body)
		}
		if strings.Contains(string(a.body), "password_hash") || strings.Contains(string(a.body), "login") && a.status < 400 {
			t.Errorf("call %d: the answer holds login material: %s", i, a.body)
		}
	}
	logs := h.logs.String()
	for _, secret := range []string{password, token, otherToken, "wrong-" + token} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold a secret (%.8s...):\n%s", secret, logs)
		}
	}
	if strings.Contains(logs, "Authorization") || strings.Contains(logs, "Bearer") {
		t.Errorf("the logs mention the Authorization header:\n%s", logs)
	}
	if redis := h.redisText(); strings.Contains(redis, password) {
		t.Errorf("Redis holds the password in plaintext:\n%s", redis)
	}
}

// TestAccessLog: one info line per request, with the exchange's id (the
// caller's when well formed), and the removal request it was about.
func TestAccessLog(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.post(body(map[string]any{"request_id": "logged-1"}), header("X-Request-Id", "caller-chosen-1"))
	if a.status != 202 || a.header.Get("X-Request-Id") != "caller-chosen-1" {
		t.Fatalf("%s, X-Request-Id %q", a, a.header.Get("X-Request-Id"))
	}
	a = h.do(http.MethodGet, "/v1/removals?limit=5", "", header("X-Request-Id", "not a good id; {\"x\":1}"))
	made := a.header.Get("X-Request-Id")
	if made == "" || strings.Contains(made, " ") {
		t.Fatalf("X-Request-Id %q", made)
	}
	h.do(http.MethodGet, "/healthz", "", noAuth)

	var access []map[string]any
	for _, l := range logLines(t, h.logs) {
		if l["message"] == "http request" {
			access = append(access, l)
		}
	}
	if len(access) != 3 {
		t.Fatalf("%d access lines, want 3: %v", len(access), access)
	}
	post := access[0]
	for k, want := range map[string]any{"level": "info", "method": "POST", "path": "/v1/removals", "status": float64(202),
		"http_request_id": "caller-chosen-1", "request_id": "logged-1"} {
		if post[k] != want {
			t.Errorf("access line %s = %v, want %v (%v)", k, post[k], want, post)
		}
	}
	if _, ok := post["duration_ms"].(float64); !ok || post["remote"] == "" {
		t.Errorf("access line %v", post)
	}
	if _, ok := access[1]["query"]; access[1]["http_request_id"] != made || ok || access[1]["path"] != "/v1/removals" {
		t.Errorf("access line %v", access[1])
	}
	if access[2]["level"] != "debug" || access[2]["status"] != float64(200) {
		t.Errorf("probe line %v", access[2])
	}
	if strconv.Itoa(int(post["bytes"].(float64))) == "0" {
		t.Errorf("access line counts no bytes: %v", post)
	}
}

// TestCorruptRecordIsNotRedisDown: one record that is not JSON does not
// break the list for everyone (it is left out), and reading it is a 500
// internal error that is logged, never "Redis unavailable".
func TestCorruptRecordIsNotRedisDown(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.mustPost(http.StatusAccepted, body(map[string]any{"request_id": "good", "nodes": []string{uid(1)}}))
	h.mustPost(http.StatusAccepted, body(map[string]any{"request_id": "broken", "nodes": []string{uid(2)}}))
	if err := h.rdb.Set(t.Context(), "{noderemover}:request:broken", "{not json", 0).Err(); err != nil {
		t.Fatal(err)
	}
	a := h.do(http.MethodGet, "/v1/removals", "")
	if a.status != http.StatusOK {
		t.Fatalf("list with one corrupt record: %s", a)
	}
	removals, _ := a.json(t)["removals"].([]any)
	if len(removals) != 1 || removals[0].(map[string]any)["request_id"] != "good" {
		t.Errorf("list %v, want the good request alone", removals)
	}
	a = h.do(http.MethodGet, "/v1/removals/broken", "")
	p := wantProblem(t, a, http.StatusInternalServerError, "internal-error", "", "")
	if a.header.Get("Retry-After") != "" || strings.Contains(string(a.body), "not json") {
		t.Errorf("the 500 offers a retry or shows the record: %v %s", p, a.body)
	}
	logged := false
	for _, l := range logLines(t, h.logs) {
		if l["level"] == "error" && strings.Contains(fmt.Sprint(l["error"]), "{noderemover}:request:broken") {
			logged = true
		}
	}
	if !logged {
		t.Error("the 500 was not logged with the key it could not read")
	}
}
