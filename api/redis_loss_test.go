package api_test

import (
	"net/http"
	"testing"

	"github.com/noderemover/noderemover/internal/store"
)

func TestRedisLoss(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	if a := h.do(http.MethodGet, "/v1/redis", ""); a.status != 200 || string(a.body) != "{\"data_lost\":null}\n" {
		t.Fatalf("no loss: %s", a)
	}
	st := store.New(h.rdb, store.Options{})
	m, _, err := st.EnsureMarker(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.rdb.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.NoticeLoss(t.Context(), *m); err != nil {
		t.Fatal(err)
	}
	a := h.do(http.MethodGet, "/v1/redis", "")
	if lost, _ := a.json(t)["data_lost"].(map[string]any); a.status != 200 || lost["noticed_at"] == nil || lost["data_since"] == nil {
		t.Fatalf("a loss: %s", a)
	}
	a = h.do(http.MethodPost, "/v1/redis/ack", "")
	if acked, _ := a.json(t)["acknowledged"].(map[string]any); a.status != 200 || acked["noticed_at"] == nil {
		t.Fatalf("ack: %s", a)
	}
	if a := h.do(http.MethodGet, "/v1/redis", ""); a.status != 200 || a.json(t)["data_lost"] != nil {
		t.Errorf("after ack: %s", a)
	}
	if a := h.do(http.MethodPost, "/v1/redis/ack", ""); a.status != 200 || string(a.body) != "{\"acknowledged\":null}\n" {
		t.Errorf("ack again: %s", a)
	}
	for _, c := range []struct{ method, path string }{{http.MethodGet, "/v1/redis"}, {http.MethodPost, "/v1/redis/ack"}} {
		wantProblem(t, h.do(c.method, c.path+"?force=1", ""), 400, "invalid-request", "force", "")
		if a := h.do(c.method, c.path, "", noAuth); a.status != 401 {
			t.Errorf("%s %s without a token: %s", c.method, c.path, a)
		}
	}
	if a := h.do(http.MethodGet, "/v1/redis/ack", ""); a.status != 405 {
		t.Errorf("GET /v1/redis/ack: %s", a)
	}
}
