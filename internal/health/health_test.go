package health_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/noderemover/noderemover/internal/health"
)

func TestProbes(t *testing.T) {
	var redisErr error
	mux := http.NewServeMux()
	health.Register(mux, health.Check{Name: "redis", Fn: func(context.Context) error { return redisErr }})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(health.LivePath); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, _ := get(health.ReadyPath); code != 200 {
		t.Errorf("readyz %d", code)
	}
	redisErr = errors.New("connection refused")
	if code, body := get(health.ReadyPath); code != 503 || !strings.Contains(body, "redis") || strings.Contains(body, "refused") {
		t.Errorf("readyz with Redis down: %d %q", code, body)
	}
	if code, _ := get(health.LivePath); code != 200 {
		t.Errorf("healthz must not depend on Redis: %d", code)
	}
}

// reasoned is an error with a Reason: readiness shows it.
type reasoned struct{ msg, reason string }

func (e reasoned) Error() string  { return e.msg }
func (e reasoned) Reason() string { return e.reason }

func TestReadinessShowsAReason(t *testing.T) {
	mux := http.NewServeMux()
	health.Register(mux, health.Check{Name: "worker", Fn: func(context.Context) error {
		return fmt.Errorf("check: %w", reasoned{msg: "redis 10.0.0.1:6379 lost its data", reason: "Redis lost its data; acknowledge it"})
	}})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + health.ReadyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if body := string(b); resp.StatusCode != 503 || body != "not ready: worker (Redis lost its data; acknowledge it)\n" {
		t.Errorf("readyz: %d %q", resp.StatusCode, body)
	}
}
