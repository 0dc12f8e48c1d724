package api_test

import (
	"net/http"
	"testing"
)

func TestPauseSwitch(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.do(http.MethodPost, "/v1/clusters/c1/pause", "")
	if a.status != 200 {
		t.Fatalf("pause c1: %s", a)
	}
	if p, _ := a.json(t)["paused"].(map[string]any); p["c1"] == nil || len(p) != 1 {
		t.Errorf("paused: %s", a.body)
	}
	if a := h.do(http.MethodPost, "/v1/pause", ""); a.status != 200 || a.json(t)["paused"].(map[string]any)["*"] == nil {
		t.Errorf("pause all: %s", a)
	}
	if a := h.do(http.MethodPost, "/v1/resume", ""); a.status != 200 || a.json(t)["paused"].(map[string]any)["*"] != nil {
		t.Errorf("resume all: %s", a)
	}
	if a := h.do(http.MethodPost, "/v1/clusters/c1/resume", ""); a.status != 200 || len(a.json(t)["paused"].(map[string]any)) != 0 {
		t.Errorf("resume c1: %s", a)
	}
	wantProblem(t, h.do(http.MethodPost, "/v1/clusters/bad.id/pause", ""), 400, "invalid-request", "cluster_id", "")
	if a := h.do(http.MethodGet, "/v1/pause", ""); a.status != 405 {
		t.Errorf("GET /v1/pause: %s", a)
	}
	for _, path := range []string{"/v1/pause", "/v1/resume", "/v1/clusters/c1/pause", "/v1/clusters/c1/resume"} {
		wantProblem(t, h.do(http.MethodPost, path+"?force=1", ""), 400, "invalid-request", "force", "")
		if a := h.do(http.MethodPost, path, "", noAuth); a.status != 401 {
			t.Errorf("POST %s without a token: %s", path, a)
		}
	}
}
