package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// TestServersCloseSlowBodies: against each server the binary runs, 150
// connections that promise a 200 kB body and send nothing are closed once
// HTTP_READ_TIMEOUT has passed.
func TestServersCloseSlowBodies(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	cases := []struct {
		name, method, path string
		args               []string
		env                map[string]string
	}{
		{"Worker", http.MethodGet, "/metrics", []string{"worker", "--http-addr"},
			map[string]string{"CCE_ENDPOINT": "http://" + freeAddr(t), "CCE_AUTH_TOKEN": "t", "LOG_LEVEL": "error"}},
		{"API", http.MethodPost, "/v1/removals", []string{"api", "--addr"}, map[string]string{"API_TOKENS": apiTestToken}},
		{"Dashboard", http.MethodPost, "/api/queues/removals:pause", []string{"dashboard", "--addr"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			env := map[string]string{"REDIS_URL": srv.URL, "HTTP_READ_TIMEOUT": "500ms", "SHUTDOWN_TIMEOUT": "5s"}
			for k, v := range tc.env {
				env[k] = v
			}
			stop := runServer(t, env, append(tc.args, addr)...)
			defer stop()
			closed := testkit.HoldBodies(t, addr, tc.method, tc.path, 150, "Authorization: Bearer "+apiTestToken+"\r\n")
			testkit.WaitFor(t, 30*time.Second, "150 connections that promised a body closed", func() bool { return closed.Load() == 150 })
			if code, _ := apiCall(t, http.MethodGet, "http://"+addr+"/healthz", "", ""); code != http.StatusOK {
				t.Errorf("after them /healthz answers %d", code)
			}
		})
	}
}

// runServer runs `noderemover args...` in process until the returned stop
// is called, once it answers /healthz.
func runServer(tb testing.TB, env map[string]string, args ...string) (stop func()) {
	tb.Helper()
	getenv := config.Getenv(func(name string) (string, bool) { v, ok := env[name]; return v, ok })
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &testkit.SyncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, stdio{in: strings.NewReader(""), out: io.Discard, err: stderr}, getenv) }()
	addr := args[len(args)-1]
	testkit.WaitFor(tb, 15*time.Second, args[0]+" serving /healthz", func() bool {
		select {
		case code := <-done:
			tb.Fatalf("%s exited %d: %s", args[0], code, stderr)
		default:
		}
		code, _ := apiCall(tb, http.MethodGet, "http://"+addr+"/healthz", "", "")
		return code == http.StatusOK
	})
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			tb.Errorf("%s did not stop", args[0])
		}
	}
}
