package main

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/internal/proctest"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// TestRegionEndpoints: the endpoint of each region, and config's default
// endpoint of CCE_REGION is cce's.
func TestRegionEndpoints(t *testing.T) {
	for _, r := range cce.Regions {
		if got, want := config.RegionEndpoint(r), cce.EndpointForRegion(r); got != want {
			t.Errorf("region %s: config has %s, cce %s", r, got, want)
		}
	}
	env := map[string]string{"CCE_REGION": "cn-north-4", "CCE_ENDPOINT": "http://127.0.0.1:9000",
		"CCE_ENDPOINTS": "eu-west-101=http://127.0.0.1:9001,xx-private-1=http://127.0.0.1:9002"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	for region, want := range map[string]string{
		"":               "http://127.0.0.1:9000",
		"cn-north-4":     "http://127.0.0.1:9000",
		"eu-west-101":    "http://127.0.0.1:9001",
		"xx-private-1":   "http://127.0.0.1:9002",
		"ap-southeast-1": "https://cce.ap-southeast-1.myhuaweicloud.com",
	} {
		if got := endpointOf(cfg, region); got != want {
			t.Errorf("endpointOf(%q) = %s, want %s", region, got, want)
		}
	}
	served := servedRegions(cfg)
	for _, r := range []string{"cn-north-4", "eu-west-101", "xx-private-1", "ap-southeast-1"} {
		if !slices.Contains(served, r) {
			t.Errorf("%s is not served: %v", r, served)
		}
	}
	if slices.Contains(served, "xx-other-1") {
		t.Error("a region named nowhere is served")
	}
}

// TestRegionsByProcess: the binary's wiring. A worker with CCE_REGION and
// its CCE_ENDPOINT, and eu-west-101 at a second fake CCE (CCE_ENDPOINTS),
// removes a request of each region; the CLI refuses a region not served,
// naming it; the statuses name their region and the worker's CCE calls are
// counted under each region.
func TestRegionsByProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := redistest.Start(t, redistest.Options{})
	if srv.Kind != redistest.KindServer {
		t.Skip("needs redis-server")
	}
	auth := []string{"CCE_AUTH_TOKEN=regions-token"}
	cnAddr, euAddr, httpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	for _, addr := range []string{cnAddr, euAddr} {
		startProc(t, auth, "fake-cce", "--addr", addr, "--job-duration", "300ms")
		testkit.WaitFor(t, 10*time.Second, "fake CCE listening", func() bool { return proctest.Listening(addr) })
	}
	env := append([]string{"REDIS_URL=" + srv.URL, "CCE_REGION=cn-north-4", "CCE_ENDPOINT=http://" + cnAddr,
		"CCE_ENDPOINTS=eu-west-101=http://" + euAddr, "HTTP_ADDR=" + httpAddr,
		"POLL_INTERVAL_MIN=200ms", "POLL_INTERVAL_MAX=1s", "RETRY_BACKOFF_MIN=200ms"}, auth...)
	startProc(t, env, "worker")

	if out, code := cli(t, env, "", "enqueue", "--project-id", "p1", "--cluster-id", "c1", "--node", uid(1), "--ssh-key", "k",
		"--request-id", "default-region"); code != 0 {
		t.Fatalf("enqueue exit %d: %s", code, out)
	}
	if out, code := cli(t, env, "", "enqueue", "--project-id", "p2", "--cluster-id", "c1", "--node", uid(2), "--ssh-key", "k",
		"--region", "eu-west-101", "--request-id", "eu"); code != 0 {
		t.Fatalf("enqueue exit %d: %s", code, out)
	}
	bad := runMain(t, map[string]string{"REDIS_URL": srv.URL, "CCE_REGION": "cn-north-4"}, "", "enqueue", "--project-id", "p3",
		"--cluster-id", "c1", "--node", uid(3), "--ssh-key", "k", "--region", "xx-nowhere-1")
	if bad.code != exitUsage || !strings.Contains(bad.stderr, "region") || !strings.Contains(bad.stderr, "xx-nowhere-1") {
		t.Errorf("an unknown region: %+v", bad)
	}
	for id, region := range map[string]string{"default-region": "cn-north-4", "eu": "eu-west-101"} {
		var st map[string]any
		testkit.WaitFor(t, 30*time.Second, "request "+id+" final", func() bool {
			out, code := cli(t, env, "", "status", id)
			if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
				return false
			}
			return st["state"] == "succeeded" || st["state"] == "failed"
		})
		if st["state"] != "succeeded" || st["region"] != region {
			t.Errorf("%s: %v", id, st)
		}
	}
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, region := range []string{"cn-north-4", "eu-west-101"} {
		want := `noderemover_cce_requests_total{code="200",operation="RemoveNodes",region="` + region + `"} 1`
		if !strings.Contains(string(raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
