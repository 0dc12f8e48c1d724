package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// The process helpers of these tests, from internal/proctest.
func builtBinary(tb testing.TB) string {
	tb.Helper()
	return proctest.Binary(tb, true)
}

func startProc(tb testing.TB, env []string, args ...string) *proctest.Proc {
	tb.Helper()
	return proctest.Start(tb, builtBinary(tb), env, args...)
}

func cli(tb testing.TB, env []string, stdin string, args ...string) (string, int) {
	tb.Helper()
	return proctest.Run(tb, builtBinary(tb), env, stdin, args...)
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	return proctest.FreeAddr(tb)
}

// TestByHand does what the README tells a new user to do: a fake CCE and a
// worker started as processes, driven with the CLI.
func TestByHand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := redistest.Start(t, redistest.Options{})
	if srv.Kind != redistest.KindServer {
		t.Skip("needs redis-server")
	}
	addr := freeAddr(t)
	auth := []string{"CCE_AUTH_TOKEN=by-hand-token"}
	startProc(t, auth, "fake-cce", "--addr", addr, "--job-duration", "500ms", "--fail-node", uid(99))
	testkit.WaitFor(t, 10*time.Second, "fake CCE listening", func() bool { return proctest.Listening(addr) })
	env := append([]string{"REDIS_URL=" + srv.URL, "CCE_ENDPOINT=http://" + addr, "POLL_INTERVAL_MIN=200ms",
		"POLL_INTERVAL_MAX=1s", "RETRY_BACKOFF_MIN=200ms", "LOG_LEVEL=debug",
		"HTTP_ADDR=127.0.0.1:0"}, auth...) // not the default :9090, which something else may hold
	w := startProc(t, env, "worker")

	out, code := cli(t, env, "", "enqueue", "--project-id", "p1", "--cluster-id", "c1", "--node", uid(1), "--node", uid(2), "--ssh-key", "k")
	if code != 0 {
		t.Fatalf("enqueue exit %d", code)
	}
	var enq struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(out), &enq); err != nil {
		t.Fatal(err)
	}
	if _, code := cli(t, env, "Pa55word!\n", "enqueue", "--project-id", "p1", "--cluster-id", "c2", "--node", uid(99),
		"--password-stdin", "--request-id", "will-fail"); code != 0 {
		t.Fatalf("enqueue exit %d", code)
	}
	status := func(id string) map[string]any {
		out, code := cli(t, env, "", "status", id)
		if code != 0 {
			t.Fatalf("status exit %d", code)
		}
		var st map[string]any
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	var st map[string]any
	testkit.WaitFor(t, 30*time.Second, "request final", func() bool {
		st = status(enq.RequestID)
		return st["state"] == "succeeded" || st["state"] == "failed"
	})
	if st["state"] != "succeeded" || st["job_id"] == "" {
		t.Fatalf("status %v", st)
	}
	testkit.WaitFor(t, 30*time.Second, "second request final", func() bool {
		st = status("will-fail")
		return st["state"] == "failed"
	})

	// SIGTERM stops the worker cleanly.
	if err := w.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("worker exit: %v", err)
	}
	if strings.Contains(w.Stderr(), "by-hand-token") || strings.Contains(w.Stderr(), "Pa55word!") {
		t.Error("a secret is in the worker's log")
	}
}
