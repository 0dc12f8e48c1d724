package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/testkit"
)

func TestCancelAndList(t *testing.T) {
	env, _ := redisEnv(t)
	for i, id := range []string{"keep", "drop"} {
		if r := runMain(t, env, "", "enqueue", "--project-id", "p1", "--cluster-id", "c1", "--node", uid(i), "--ssh-key", "k", "--request-id", id); r.code != 0 {
			t.Fatalf("enqueue: %+v", r)
		}
	}
	r := runMain(t, env, "", "cancel", "drop")
	var st map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st["state"] != "cancelled" {
		t.Fatalf("cancel: %+v", r)
	}
	if r := runMain(t, env, "", "cancel", "drop"); r.code != 0 {
		t.Errorf("cancel twice: %+v", r)
	}
	if r := runMain(t, env, "", "cancel", "ghost"); r.code != exitFailure || !strings.Contains(r.stderr, "not found") {
		t.Errorf("cancel unknown: %+v", r)
	}
	if r := runMain(t, env, "", "cancel"); r.code != exitUsage {
		t.Errorf("cancel without id: %+v", r)
	}

	r = runMain(t, env, "", "list", "--output", "json")
	var list struct {
		Removals []map[string]any `json:"removals"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list.Removals) != 2 || list.Removals[0]["request_id"] != "drop" {
		t.Fatalf("list: %+v", r)
	}
	r = runMain(t, env, "", "list", "--state", "cancelled", "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"drop"`) || strings.Contains(r.stdout, `"keep"`) {
		t.Errorf("list --state cancelled: %+v", r)
	}
	r = runMain(t, env, "", "list", "--cluster-id", "c1")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "REQUEST") || !strings.Contains(r.stdout, "keep") || !strings.Contains(r.stdout, "0/1 removed") {
		t.Errorf("list table: %+v", r)
	}
	// Pages: a full page says how to read the next one.
	r = runMain(t, env, "", "list", "--limit", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "drop") || strings.Contains(r.stdout, "keep") || !strings.Contains(r.stderr, "--before drop") {
		t.Errorf("list --limit 1: %+v", r)
	}
	r = runMain(t, env, "", "list", "--limit", "1", "--before", "drop", "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"keep"`) || !strings.Contains(r.stdout, `"next_before":"keep"`) {
		t.Errorf("list --before drop: %+v", r)
	}
	r = runMain(t, env, "", "list", "--before", "keep", "--output", "json")
	if r.code != 0 || strings.TrimSpace(r.stdout) != `{"removals":[]}` {
		t.Errorf("list --before the last: %+v", r)
	}
	for _, args := range [][]string{{"list", "--state", "running"}, {"list", "--limit", "0"}, {"list", "--output", "yaml"}, {"list", "--before", "ghost"}} {
		if r := runMain(t, env, "", args...); r.code != exitUsage {
			t.Errorf("%v: %+v", args, r)
		}
	}
}

func TestDashboardCommand(t *testing.T) {
	env, _ := redisEnv(t)
	env["DASHBOARD_ADDR"] = ":0"
	if r := runMain(t, env, "", "dashboard"); r.code != exitUsage || !strings.Contains(r.stderr, "not a loopback address") {
		t.Fatalf("open address without credentials: %+v", r)
	}
	env["DASHBOARD_ADDR"] = freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan result, 1)
	go func() {
		var r result
		r.code = run(ctx, []string{"dashboard"}, stdio{in: strings.NewReader(""), out: &strings.Builder{}, err: &testkit.SyncBuffer{}},
			func(n string) (string, bool) { v, ok := env[n]; return v, ok })
		done <- r
	}()
	testkit.WaitFor(t, 10*time.Second, "dashboard serving", func() bool {
		resp, err := http.Get("http://" + env["DASHBOARD_ADDR"] + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	cancel()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Fatalf("dashboard exit %d", r.code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dashboard did not stop")
	}
}

// TestCorruptRecord: a record that is not JSON leaves `list` working for
// every other request (and says once which key it skipped); `status` of it
// fails naming the key, not "Redis unavailable".
func TestCorruptRecord(t *testing.T) {
	env, srv := redisEnv(t)
	for i, id := range []string{"good", "broken"} {
		if r := runMain(t, env, "", "enqueue", "--project-id", "p1", "--cluster-id", "c1", "--node", uid(i), "--ssh-key", "k", "--request-id", id); r.code != 0 {
			t.Fatalf("enqueue: %+v", r)
		}
	}
	if err := srv.Client(t).Set(t.Context(), "{noderemover}:request:broken", "{not json", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r := runMain(t, env, "", "list", "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"good"`) || strings.Contains(r.stdout, `"broken"`) ||
		strings.Count(r.stderr, "{noderemover}:request:broken") != 1 {
		t.Errorf("list: %+v; want the good request, and the corrupt key named once on stderr", r)
	}
	r = runMain(t, env, "", "status", "broken")
	if r.code != exitFailure || strings.Contains(r.stderr, "unavailable") || !strings.Contains(r.stderr, "{noderemover}:request:broken is corrupt") {
		t.Errorf("status of the corrupt record: %+v", r)
	}
}
