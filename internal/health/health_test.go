package health_test

import (
	"context"
	"errors"
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
