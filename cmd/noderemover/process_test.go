package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/redistest"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// builtBinary builds noderemover once per test run.
func builtBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "noderemover-bin")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "noderemover")
		out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// proc is a running noderemover process.
type proc struct {
	cmd     *exec.Cmd
	stderr  *syncBuf
	done    chan struct{} // closed when the process has exited
	waitErr error
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(builtBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	dieWithParent(cmd)
	p := &proc{cmd: cmd, stderr: &syncBuf{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s stderr:\n%s", args[0], p.stderr.String())
		}
	})
	return p
}

// cli runs one noderemover command to its end.
func cli(t *testing.T, env []string, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(builtBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Logf("%v: exit %d: %s", args, code, errb.String())
	}
	return out.String(), code
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition
	}
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
	waitUntil(t, 10*time.Second, "fake CCE listening", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	env := append([]string{"REDIS_URL=" + srv.URL, "CCE_ENDPOINT=http://" + addr, "POLL_INTERVAL_MIN=200ms",
		"POLL_INTERVAL_MAX=1s", "RETRY_BACKOFF_MIN=200ms", "LOG_LEVEL=debug"}, auth...)
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
	waitUntil(t, 30*time.Second, "request final", func() bool {
		st = status(enq.RequestID)
		return st["state"] == "succeeded" || st["state"] == "failed"
	})
	if st["state"] != "succeeded" || st["job_id"] == "" {
		t.Fatalf("status %v", st)
	}
	waitUntil(t, 30*time.Second, "second request final", func() bool {
		st = status("will-fail")
		return st["state"] == "failed"
	})

	// SIGTERM stops the worker cleanly.
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
		if w.waitErr != nil {
			t.Fatalf("worker exit: %v", w.waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not stop on SIGTERM")
	}
	if strings.Contains(w.stderr.String(), "by-hand-token") || strings.Contains(w.stderr.String(), "Pa55word!") {
		t.Error("a secret is in the worker's log")
	}
}
