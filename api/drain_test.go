package api_test

import (
	"testing"

	"github.com/noderemover/noderemover/enqueuer"
)

func TestPostWithDrain(t *testing.T) {
	none := newHarness(t, harnessOptions{})
	a := none.post(body(map[string]any{"drain": map[string]any{"enabled": true}}))
	wantProblem(t, a, 400, "invalid-request", "drain.enabled", "KUBE_ACCESS")
	if n := none.dbSize(); n != 0 {
		t.Errorf("a refused request left %d keys", n)
	}
	a = none.post(body(map[string]any{"drain": map[string]any{"timeout": "soon"}}))
	wantProblem(t, a, 400, "invalid-request", "drain.timeout", "duration")

	h := newHarness(t, harnessOptions{drain: enqueuer.DrainDefaults{Access: enqueuer.KubeAccessCCE, Enabled: true}})
	st := h.mustPost(202, body(map[string]any{"drain": map[string]any{"timeout": "2m", "on_timeout": "remove", "force": true}}))
	d, _ := st["drain"].(map[string]any)
	if d["timeout"] != "2m0s" || d["on_timeout"] != "remove" || d["force"] != true || d["delete_emptydir_data"] != false {
		t.Errorf("drain in the status: %v", st["drain"])
	}
	st = h.mustPost(202, body(map[string]any{"nodes": []string{uid(9)}, "drain": map[string]any{"enabled": false}}))
	if _, ok := st["drain"]; ok {
		t.Errorf("a request with the drain off shows one: %v", st["drain"])
	}
}
