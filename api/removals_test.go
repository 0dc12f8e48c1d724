package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/noderemover/noderemover/api"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/internal/store/storetest"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/tasks"
)

func TestCreate(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const upper = "6F3C4A2E-1B7D-4C8E-9F00-1234567890AB"
	a := h.post(body(map[string]any{"request_id": "scale-down-1", "nodes": []string{upper, uid(2)}}))
	if a.status != http.StatusAccepted {
		t.Fatalf("POST: %s", a)
	}
	if loc := a.header.Get("Location"); loc != "/v1/removals/scale-down-1" {
		t.Errorf("Location %q", loc)
	}
	st := a.json(t)
	if st["request_id"] != "scale-down-1" || st["state"] != "queued" || st["cluster_id"] != "c1" {
		t.Errorf("status %v", st)
	}
	if n := st["nodes"].([]any)[0].(map[string]any); n["uid"] != strings.ToLower(upper) || n["state"] != "pending" {
		t.Errorf("node uids are not normalised: %v", n)
	}

	got := h.do(http.MethodGet, a.header.Get("Location"), "")
	if got.status != http.StatusOK || got.json(t)["request_id"] != "scale-down-1" {
		t.Fatalf("GET Location: %s", got)
	}

	// Without a request_id the server names it, and Location says how.
	a = h.post(body(map[string]any{"nodes": []string{uid(3)}}))
	if a.status != http.StatusAccepted {
		t.Fatalf("POST without id: %s", a)
	}
	id, _ := a.json(t)["request_id"].(string)
	if id == "" || a.header.Get("Location") != "/v1/removals/"+id {
		t.Errorf("made id %q, Location %q", id, a.header.Get("Location"))
	}

	// The task is queued.
	pending, err := asynq.NewInspectorFromRedisClient(h.rdb).ListPendingTasks(tasks.Queue)
	if err != nil || len(pending) != 2 {
		t.Fatalf("pending tasks %v %v", pending, err)
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	many := make([]string, 201)
	for i := range many {
		many[i] = uid(i)
	}
	huge := body(map[string]any{"project_id": strings.Repeat("p", api.MaxBodyBytes)})
	cases := []struct {
		name   string
		body   string
		edits  []edit
		status int
		typ    string
		field  string
		detail string
	}{
		{"MissingProject", body(map[string]any{"project_id": nil}), nil, 400, "invalid-request", "project_id", "missing"},
		{"MalformedProject", body(map[string]any{"project_id": "p 1"}), nil, 400, "invalid-request", "project_id", "letters"},
		{"MissingCluster", body(map[string]any{"cluster_id": nil}), nil, 400, "invalid-request", "cluster_id", "missing"},
		{"UnknownRegion", body(map[string]any{"region": "ap-southeast-1"}), nil, 400, "invalid-request", "region", "not a region this fleet serves (served: cn-north-4, eu-west-101"},
		{"MalformedRegion", body(map[string]any{"region": "North 4"}), nil, 400, "invalid-request", "region", "not a region name"},
		{"EmptyRegion", body(map[string]any{"region": ""}), nil, 400, "invalid-request", "region", ""},
		{"MalformedRequestID", body(map[string]any{"request_id": "-x"}), nil, 400, "invalid-request", "request_id", "letters"},
		{"NoNodesMember", body(map[string]any{"nodes": nil}), nil, 400, "invalid-request", "nodes", "no node"},
		{"ZeroNodes", body(map[string]any{"nodes": []string{}}), nil, 400, "invalid-request", "nodes", "no node"},
		{"TooManyNodes", body(map[string]any{"nodes": many}), nil, 400, "invalid-request", "nodes", "at most 200"},
		{"MalformedNode", body(map[string]any{"nodes": []string{uid(1), "node-2"}}), nil, 400, "invalid-request", "nodes[1]", "not a node uid"},
		{"DuplicateNode", body(map[string]any{"nodes": []string{uid(1), strings.ToUpper(uid(1))}}), nil, 400, "invalid-request", "nodes[1]", "given twice"},
		{"BothLogins", body(map[string]any{"password": "Pa55word!"}), nil, 400, "invalid-request", "login", "not both"},
		{"NoLogin", body(map[string]any{"ssh_key": nil}), nil, 400, "invalid-request", "login", "ssh_key or password"},
		{"UsernameWithKey", body(map[string]any{"username": "root"}), nil, 400, "invalid-request", "username", "goes with a password"},
		{"BadUsername", body(map[string]any{"ssh_key": nil, "password": "Pa55word!", "username": "Root User"}), nil, 400, "invalid-request", "username", "not a Linux user name"},
		{"PasswordWithNewline", body(map[string]any{"ssh_key": nil, "password": "Pa55\nword"}), nil, 400, "invalid-request", "password", "control character"},
		{"NodesNotArray", body(map[string]any{"nodes": uid(1)}), nil, 400, "invalid-request", "nodes", "must be an array of node uids, not a string"},
		{"NodeNotString", body(map[string]any{"nodes": []any{uid(1), 7}}), nil, 400, "invalid-request", "nodes[1]", "must be a string, not a number"},
		{"ProjectNotString", body(map[string]any{"project_id": 12}), nil, 400, "invalid-request", "project_id", "must be a string, not a number"},
		{"PasswordNotString", body(map[string]any{"ssh_key": nil, "password": []string{"x"}}), nil, 400, "invalid-request", "password", "not an array"},
		{"NullMember", `{"project_id":null,"cluster_id":"c1","nodes":["` + uid(1) + `"],"ssh_key":"k"}`, nil, 400, "invalid-request", "project_id", "not null"},
		{"UnknownMember", body(map[string]any{"colour": "red"}), nil, 400, "invalid-request", "colour", "not a member"},
		{"WrongCase", body(map[string]any{"ssh_key": nil, "SSH_KEY": "k"}), nil, 400, "invalid-request", "SSH_KEY", "not a member"},
		{"RepeatedMember", `{"project_id":"p1","project_id":"p2","cluster_id":"c1","nodes":["` + uid(1) + `"],"ssh_key":"k"}`, nil, 400, "invalid-request", "project_id", "given twice"},
		{"TrailingObject", body(nil) + ` {"project_id":"p2"}`, nil, 400, "invalid-request", "", "data after the JSON object"},
		{"TrailingGarbage", body(nil) + ` x`, nil, 400, "invalid-request", "", "data after the JSON object"},
		{"Array", `[` + body(nil) + `]`, nil, 400, "invalid-request", "", "must be a JSON object, not an array"},
		{"NotJSON", `project_id=p1`, nil, 400, "invalid-request", "", "not valid JSON"},
		{"Truncated", body(nil)[:20], nil, 400, "invalid-request", "", "ends before"},
		{"EmptyBody", ` `, nil, 400, "invalid-request", "", "empty"},
		{"QueryParameter", body(nil), []edit{func(r *http.Request) { r.URL.RawQuery = "verbose=1" }}, 400, "invalid-request", "verbose", "not a query parameter"},
		{"DryRunNotABool", body(nil), []edit{func(r *http.Request) { r.URL.RawQuery = "dry_run=maybe" }}, 400, "invalid-request", "dry_run", "true or false"},
		{"Oversized", huge, nil, 413, "body-too-large", "", "larger than 1048576 bytes"},
		{"OversizedChunked", huge, []edit{func(r *http.Request) { r.ContentLength = -1 }}, 413, "body-too-large", "", "larger than"},
		{"NoContentType", body(nil), []edit{header("Content-Type", "")}, 415, "unsupported-media-type", "", "application/json"},
		{"FormContentType", body(nil), []edit{header("Content-Type", "application/x-www-form-urlencoded")}, 415, "unsupported-media-type", "", "application/json"},
		{"Latin1", body(nil), []edit{header("Content-Type", "application/json; charset=latin1")}, 415, "unsupported-media-type", "", "charset=latin1"},
		{"NoToken", body(nil), []edit{noAuth}, 401, "unauthorized", "", "Bearer"},
		{"WrongToken", body(nil), []edit{header("Authorization", "Bearer "+token+"x")}, 401, "unauthorized", "", "no valid bearer token"},
		{"BasicAuth", body(nil), []edit{header("Authorization", "Basic "+token)}, 401, "unauthorized", "", "no valid bearer token"},
		{"EmptyBearer", body(nil), []edit{header("Authorization", "Bearer ")}, 401, "unauthorized", "", "no valid bearer token"},
		// Authentication comes first: a caller without a token learns nothing about its body.
		{"NoTokenBadBody", `nonsense`, []edit{noAuth, header("Content-Type", "text/plain")}, 401, "unauthorized", "", "Bearer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := h.post(tc.body, tc.edits...)
			p := wantProblem(t, a, tc.status, tc.typ, tc.field, tc.detail)
			if p["instance"] != "/v1/removals" {
				t.Errorf("instance %v", p["instance"])
			}
			if tc.status == 401 && a.header.Get("WWW-Authenticate") != `Bearer realm="noderemover"` {
				t.Errorf("WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
			}
		})
	}
	if n := h.dbSize(); n != 0 {
		t.Fatalf("invalid input wrote %d keys to Redis", n)
	}
}

func TestCreateAcceptsLargestRequest(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	nodes := make([]string, removal.MaxNodes)
	for i := range nodes {
		nodes[i] = uid(i)
	}
	b := body(map[string]any{"nodes": nodes, "request_id": "big"})
	if len(b) > 16<<10 {
		t.Errorf("a request of %d nodes is %d bytes", len(nodes), len(b))
	}
	h.mustPost(http.StatusAccepted, b)
	// White space around it is fine.
	h.mustPost(http.StatusOK, "\n  "+b+"\n")
}

func TestCreateRepeatsAndConflicts(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	first := h.mustPost(http.StatusAccepted, body(map[string]any{"request_id": "r1", "nodes": []string{uid(1), uid(2)}}))

	t.Run("IdempotentRepeat", func(t *testing.T) {
		// The same request again, nodes in another order: 200, the same status, nothing new queued.
		a := h.post(body(map[string]any{"request_id": "r1", "nodes": []string{uid(2), uid(1)}}), header("Content-Type", "application/json; charset=utf-8"))
		if a.status != http.StatusOK || a.header.Get("Location") != "/v1/removals/r1" {
			t.Fatalf("repeat: %s", a)
		}
		if got := a.json(t); got["created_at"] != first["created_at"] || got["state"] != "queued" {
			t.Errorf("repeat answered %v, first %v", got, first)
		}
		pending, err := asynq.NewInspectorFromRedisClient(h.rdb).ListPendingTasks(tasks.Queue)
		if err != nil || len(pending) != 1 {
			t.Errorf("pending tasks after a repeat: %d %v", len(pending), err)
		}
	})
	t.Run("IdempotentRepeatWithPassword", func(t *testing.T) {
		b := body(map[string]any{"request_id": "r-pw", "ssh_key": nil, "password": "Pa55word!", "cluster_id": "c9"})
		h.mustPost(http.StatusAccepted, b)
		h.mustPost(http.StatusOK, b) // the salt differs, the request does not
	})
	t.Run("ConflictingID", func(t *testing.T) {
		a := h.post(body(map[string]any{"request_id": "r1", "nodes": []string{uid(3)}}))
		p := wantProblem(t, a, http.StatusConflict, "request-id-conflict", "", "r1")
		if p["request_id"] != "r1" {
			t.Errorf("problem %v", p)
		}
	})
	t.Run("NodeBusy", func(t *testing.T) {
		a := h.post(body(map[string]any{"request_id": "r2", "nodes": []string{uid(5), uid(2)}}))
		p := wantProblem(t, a, http.StatusConflict, "node-busy", "", "r1")
		if p["node_uid"] != uid(2) || p["other_request_id"] != "r1" || p["request_id"] != "r2" || !strings.Contains(p["detail"].(string), uid(2)) {
			t.Errorf("problem %v", p)
		}
		if a := h.do(http.MethodGet, "/v1/removals/r2", ""); a.status != http.StatusNotFound {
			t.Errorf("a refused request was stored: %s", a)
		}
	})
}

func TestGet(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.mustPost(http.StatusAccepted, body(map[string]any{"request_id": "g.1"}))
	cases := []struct {
		name, path string
		status     int
		typ, field string
	}{
		{"Known", "/v1/removals/g.1", 200, "", ""},
		{"Unknown", "/v1/removals/never-enqueued", 404, "not-found", ""},
		{"Malformed", "/v1/removals/-dash-first", 400, "invalid-request", "request_id"},
		{"MalformedEncoded", "/v1/removals/a%20b", 400, "invalid-request", "request_id"},
		{"TooLong", "/v1/removals/" + strings.Repeat("x", 129), 400, "invalid-request", "request_id"},
		{"QueryParameter", "/v1/removals/g.1?verbose=1", 400, "invalid-request", "verbose"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := h.do(http.MethodGet, tc.path, "")
			if tc.status == 200 {
				if a.status != 200 || a.json(t)["request_id"] != "g.1" || a.header.Get("Cache-Control") != "no-store" {
					t.Fatalf("%s", a)
				}
				return
			}
			p := wantProblem(t, a, tc.status, tc.typ, tc.field, "")
			if tc.status == 404 && p["request_id"] != "never-enqueued" {
				t.Errorf("404 does not name the request: %v", p)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := t.Context()
	inspector := asynq.NewInspectorFromRedisClient(h.rdb)
	h.mustPost(http.StatusAccepted, body(map[string]any{"request_id": "queued-1", "nodes": []string{uid(1)}}))
	h.mustPost(http.StatusAccepted, body(map[string]any{"request_id": "accepted-1", "nodes": []string{uid(2)}}))

	// accepted-1: a worker took it into a batch and CCE accepted it as job-1.
	st := store.New(h.rdb, store.Options{})
	now := time.Now()
	b := storetest.Form(t, st, now.Add(time.Minute), "accepted-1")
	if _, err := st.Step(ctx, b, removal.EventAccepted, removal.Input{Now: now, JobID: "job-1"}); err != nil {
		t.Fatal(err)
	}

	queuedTask := func() bool {
		t.Helper()
		pending, err := inspector.ListPendingTasks(tasks.Queue)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(pending, func(ti *asynq.TaskInfo) bool { return ti.ID == tasks.RemoveNodesTaskID("queued-1") })
	}

	t.Run("Queued", func(t *testing.T) {
		if !queuedTask() {
			t.Fatal("queued-1 has no pending task to begin with")
		}
		a := h.do(http.MethodDelete, "/v1/removals/queued-1", "")
		if a.status != http.StatusOK {
			t.Fatalf("%s", a)
		}
		st := a.json(t)
		if st["state"] != "cancelled" || st["request_id"] != "queued-1" {
			t.Errorf("status %v", st)
		}
		if queuedTask() {
			t.Error("the cancelled request's task is still pending")
		}
		// Cancelling again is harmless, and the node is free for another request.
		if a := h.do(http.MethodDelete, "/v1/removals/queued-1", ""); a.status != http.StatusOK || a.json(t)["state"] != "cancelled" {
			t.Errorf("second cancel: %s", a)
		}
		h.mustPost(http.StatusAccepted, body(map[string]any{"request_id": "after-cancel", "nodes": []string{uid(1)}}))
	})
	t.Run("AcceptedByCCE", func(t *testing.T) {
		a := h.do(http.MethodDelete, "/v1/removals/accepted-1", "")
		p := wantProblem(t, a, http.StatusConflict, "not-cancellable", "", "job-1")
		if p["job_id"] != "job-1" || p["request_id"] != "accepted-1" || p["state"] != "polling" {
			t.Errorf("problem %v", p)
		}
		rec, err := st.Get(ctx, "accepted-1")
		if err != nil || rec.State != removal.StatePolling {
			t.Errorf("record changed: %v %v", rec.State, err)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		wantProblem(t, h.do(http.MethodDelete, "/v1/removals/nope", ""), 404, "not-found", "", "nope")
	})
	t.Run("Malformed", func(t *testing.T) {
		wantProblem(t, h.do(http.MethodDelete, "/v1/removals/_x", ""), 400, "invalid-request", "request_id", "request_id")
	})
	t.Run("NoToken", func(t *testing.T) {
		wantProblem(t, h.do(http.MethodDelete, "/v1/removals/accepted-1", "", noAuth), 401, "unauthorized", "", "")
	})
}

func TestList(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	if a := h.do(http.MethodGet, "/v1/removals", ""); a.status != 200 || string(a.body) != "{\"removals\":[]}\n" {
		t.Fatalf("empty list: %s", a)
	}
	for i, cluster := range []string{"c1", "c2", "c1", "c1"} {
		h.mustPost(http.StatusAccepted, body(map[string]any{"request_id": fmt.Sprintf("l%d", i), "cluster_id": cluster, "nodes": []string{uid(i)}}))
	}
	if a := h.do(http.MethodDelete, "/v1/removals/l2", ""); a.status != 200 {
		t.Fatal(a)
	}
	ids := func(a *answer) []string {
		t.Helper()
		if a.status != 200 {
			t.Fatalf("list: %s", a)
		}
		var out []string
		for _, st := range a.json(t)["removals"].([]any) {
			out = append(out, st.(map[string]any)["request_id"].(string))
		}
		return out
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{"l3", "l2", "l1", "l0"}},
		{"?cluster_id=c1", []string{"l3", "l2", "l0"}},
		{"?state=queued&cluster_id=c1", []string{"l3", "l0"}},
		{"?state=cancelled", []string{"l2"}},
		{"?state=failed", nil},
		{"?limit=2", []string{"l3", "l2"}},
		{"?cluster_id=c1&limit=1", []string{"l3"}},
		{"?cluster_id=elsewhere", nil},
		{"?before=l2", []string{"l1", "l0"}},
		{"?before=l3&cluster_id=c1&limit=1", []string{"l2"}},
		{"?before=l0", nil},
	}
	for _, tc := range cases {
		if got := ids(h.do(http.MethodGet, "/v1/removals"+tc.query, "")); !slices.Equal(got, tc.want) {
			t.Errorf("list%s: %v, want %v", tc.query, got, tc.want)
		}
	}
	bad := []struct{ query, field, detail string }{
		{"?state=done", "state", "not one of"},
		{"?state=", "state", "empty"},
		{"?limit=0", "limit", "from 1 to 1000"},
		{"?limit=1001", "limit", "from 1 to 1000"},
		{"?limit=ten", "limit", "whole number"},
		{"?limit=1&limit=2", "limit", "more than once"},
		{"?cluster=c1", "cluster", "not a query parameter"},
		{"?state=queued&page=2", "page", "not a query parameter"},
		{"?limit=%zz", "", "malformed"},
		{"?before=never-sent", "before", "not listed"},
		{"?before=_x", "before", "must be 1-128"},
	}
	for _, tc := range bad {
		a := h.do(http.MethodGet, "/v1/removals"+tc.query, "")
		wantProblem(t, a, 400, "invalid-request", tc.field, tc.detail)
	}
	// A full page names the next one; following next_before reads every
	// request once.
	var seen []string
	next := "/v1/removals?limit=3"
	for next != "" {
		a := h.do(http.MethodGet, next, "")
		seen = append(seen, ids(a)...)
		next = ""
		if nb, ok := a.json(t)["next_before"].(string); ok {
			next = "/v1/removals?limit=3&before=" + nb
		}
	}
	if want := []string{"l3", "l2", "l1", "l0"}; !slices.Equal(seen, want) {
		t.Errorf("following next_before: %v, want %v", seen, want)
	}
	wantProblem(t, h.do(http.MethodGet, "/v1/removals", "", noAuth), 401, "unauthorized", "", "")
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.mustPost(http.StatusAccepted, body(map[string]any{"request_id": "a1"}))
	tokens := []struct {
		name, authorization string
		ok                  bool
	}{
		{"FirstToken", "Bearer " + token, true},
		{"SecondToken", "Bearer " + otherToken, true},
		{"SchemeInLowerCase", "bearer " + token, true},
		{"Missing", "", false},
		{"Invalid", "Bearer not-a-token-0123456789", false},
		{"Prefix", "Bearer " + token[:len(token)-1], false},
		{"BothTokens", "Bearer " + token + otherToken, false},
		{"OtherScheme", "Basic " + token, false},
		{"NoScheme", token, false},
		{"SchemeOnly", "Bearer", false},
	}
	for _, tc := range tokens {
		t.Run(tc.name, func(t *testing.T) {
			for _, op := range []struct{ method, path, body string }{
				{http.MethodGet, "/v1/removals/a1", ""},
				{http.MethodGet, "/v1/removals", ""},
				{http.MethodPost, "/v1/removals", body(map[string]any{"request_id": "a1"})},
			} {
				a := h.do(op.method, op.path, op.body, header("Authorization", tc.authorization))
				if tc.ok {
					if a.status != 200 {
						t.Errorf("%s %s: %s", op.method, op.path, a)
					}
					continue
				}
				wantProblem(t, a, 401, "unauthorized", "", "Bearer")
				if a.header.Get("WWW-Authenticate") != `Bearer realm="noderemover"` {
					t.Errorf("WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	t.Run("PublicPaths", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/v1/openapi.json"} {
			if a := h.do(http.MethodGet, path, "", noAuth); a.status != 200 {
				t.Errorf("%s without a token: %s", path, a)
			}
		}
	})
}

func TestRouting(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.do(http.MethodGet, "/v2/removals", "")
	wantProblem(t, a, 404, "not-found", "", "openapi.json")
	a = h.do(http.MethodPut, "/v1/removals/x", "{}")
	wantProblem(t, a, 405, "method-not-allowed", "", "PUT")
	if allow := a.header.Get("Allow"); allow != "DELETE, GET, HEAD" {
		t.Errorf("Allow %q", allow)
	}
	a = h.do(http.MethodDelete, "/v1/removals", "")
	wantProblem(t, a, 405, "method-not-allowed", "", "")
	if allow := a.header.Get("Allow"); allow != "GET, HEAD, POST" {
		t.Errorf("Allow %q", allow)
	}
	if a := h.do(http.MethodHead, "/v1/removals", ""); a.status != 200 || len(a.body) != 0 {
		t.Errorf("HEAD: %s", a)
	}
}

func TestNodeBusyUnnamed(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.mustPost(http.StatusAccepted, body(map[string]any{"request_id": "holder"}))
	p := wantProblem(t, h.post(body(nil)), http.StatusConflict, "node-busy", "", "holder")
	if _, ok := p["request_id"]; ok || p["other_request_id"] != "holder" {
		t.Errorf("problem %v: names a request id nobody chose", p)
	}
}
