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

const apiTestToken = "cmd-api-test-token-0123456789"

func TestAPIRefusesToStartWithoutTokens(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"NoTokens", nil, nil, "API_TOKENS"},
		{"EmptyTokens", map[string]string{"API_TOKENS": " "}, nil, "API_TOKENS"},
		{"ShortToken", map[string]string{"API_TOKENS": apiTestToken + ",short-secret"}, nil, "API_TOKENS"},
		{"BadAddr", map[string]string{"API_TOKENS": apiTestToken}, []string{"--addr", "nowhere"}, "API_ADDR"},
		{"StrayArgument", map[string]string{"API_TOKENS": apiTestToken}, []string{"serve"}, "unexpected argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runMain(t, tc.env, "", append([]string{"api"}, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("code %d stderr %q, want %d naming %s", r.code, r.stderr, exitUsage, tc.want)
			}
			if strings.Contains(r.stderr, apiTestToken) || strings.Contains(r.stderr, "short-secret") {
				t.Errorf("a token is printed: %q", r.stderr)
			}
		})
	}
}

// TestAPIServesUntilCancelled runs `noderemover api` in process: it serves
// its probes and a removal, then stops cleanly (exit 0) when its context
// ends, as on SIGTERM.
func TestAPIServesUntilCancelled(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	addr := freeAddr(t)
	env := map[string]string{"API_TOKENS": "other-token-abcdefghijklmnop, " + apiTestToken, "SHUTDOWN_TIMEOUT": "5s"}
	getenv := config.Getenv(func(name string) (string, bool) { v, ok := env[name]; return v, ok })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &testkit.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"api", "--addr", addr, "--redis-url", srv.URL},
			stdio{in: strings.NewReader(""), out: io.Discard, err: stderr}, getenv)
	}()
	base := "http://" + addr
	testkit.WaitFor(t, 10*time.Second, "the API serving /healthz", func() bool {
		select {
		case code := <-done:
			t.Fatalf("api exited %d: %s", code, stderr)
		default:
		}
		code, _ := apiCall(t, http.MethodGet, base+"/healthz", "", "")
		return code == http.StatusOK
	})
	if code, body := apiCall(t, http.MethodGet, base+"/readyz", "", ""); code != http.StatusOK {
		t.Errorf("readyz: %d %s", code, body)
	}
	req := `{"request_id":"cmd-1","project_id":"p1","cluster_id":"c1","nodes":["` + uid(1) + `"],"ssh_key":"k"}`
	if code, body := apiCall(t, http.MethodPost, base+"/v1/removals", req, apiTestToken); code != http.StatusAccepted {
		t.Errorf("POST: %d %s", code, body)
	}
	if code, _ := apiCall(t, http.MethodPost, base+"/v1/removals", req, ""); code != http.StatusUnauthorized {
		t.Errorf("POST without a token: %d", code)
	}
	if r := runMain(t, map[string]string{"REDIS_URL": srv.URL}, "", "status", "cmd-1"); r.code != 0 || !strings.Contains(r.stdout, `"queued"`) {
		t.Errorf("status of the request posted: %+v", r)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("api exited %d after its context ended: %s", code, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("api did not stop when its context ended")
	}
	logs := stderr.String()
	for _, want := range []string{"api serving", "http request", "api stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, apiTestToken) {
		t.Errorf("a token is in the log:\n%s", logs)
	}
	if code, _ := apiCall(t, http.MethodGet, base+"/healthz", "", ""); code != 0 {
		t.Errorf("still serving after exit: %d", code)
	}
}

// apiCall makes one HTTP call; code 0 means no answer.
func apiCall(tb testing.TB, method, url, body, token string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
