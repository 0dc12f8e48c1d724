package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/testkit"
)

// TestWorkerLogsOnlyJSONWithRedisDown: a worker started with Redis out of
// reach writes nothing but JSON lines to stderr — its own, asynq's,
// go-redis's and those of asynq's metrics collector on a scrape.
func TestWorkerLogsOnlyJSONWithRedisDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	httpAddr := freeAddr(t)
	w := startProc(t, []string{"REDIS_URL=redis://" + freeAddr(t) + "/0", "CCE_ENDPOINT=http://" + freeAddr(t),
		"CCE_AUTH_TOKEN=t", "HTTP_ADDR=" + httpAddr, "LOG_LEVEL=debug"}, "worker")
	testkit.WaitFor(t, 30*time.Second, "the worker serving /healthz", func() bool {
		code, _ := apiCall(t, http.MethodGet, "http://"+httpAddr+"/healthz", "", "")
		return code == http.StatusOK
	})
	// A scrape makes asynq's queue collector fail and say so.
	if code, _ := apiCall(t, http.MethodGet, "http://"+httpAddr+"/metrics", "", ""); code != http.StatusOK {
		t.Errorf("/metrics %d", code)
	}
	for _, want := range []string{`"component":"asynq"`, `"component":"redis"`, `"component":"stdlog"`} {
		testkit.WaitFor(t, 30*time.Second, "a line with "+want, func() bool { return strings.Contains(w.Stderr(), want) })
	}
	if err := w.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(t, 60*time.Second); err != nil {
		t.Fatalf("worker exit: %v\n%s", err, w.Stderr())
	}
	for i, line := range strings.Split(strings.TrimRight(w.Stderr(), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["level"] == nil || m["message"] == nil {
			t.Errorf("stderr line %d is not a JSON log line: %q", i+1, line)
		}
	}
}
