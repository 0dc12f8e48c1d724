package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/noderemover/noderemover/metrics"
)

// A fresh registry's /metrics shows every counter whose label values are
// known at 0, so rate() and alerts work from the first scrape.
func TestCountersStartAtZero(t *testing.T) {
	reg := metrics.NewRegistry()
	metrics.New(reg, metrics.Options{})
	hs := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer hs.Close()
	resp, err := http.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	page := string(raw)
	for _, want := range []string{
		`noderemover_requests_finished_total{region="",state="succeeded"} 0`,
		`noderemover_requests_finished_total{region="",state="failed"} 0`,
		`noderemover_nodes_finished_total{outcome="removed",region=""} 0`,
		`noderemover_nodes_finished_total{outcome="failed",region=""} 0`,
		`noderemover_cce_throttled_total{operation="RemoveNodes",region=""} 0`,
		`noderemover_cce_throttled_total{operation="ShowJob",region=""} 0`,
		`noderemover_cce_throttled_total{operation="ShowNode",region=""} 0`,
		`noderemover_cce_throttled_total{operation="ListNodes",region=""} 0`,
		`noderemover_cce_rate_slots_total{kind="write"} 0`,
		`noderemover_cce_rate_slots_total{kind="read"} 0`,
		`noderemover_cce_rate_slots_returned_total{kind="write"} 0`,
		`noderemover_cce_rate_slots_returned_total{kind="read"} 0`,
		`noderemover_drain_evictions_total{result="evicted"} 0`,
		`noderemover_drain_evictions_total{result="refused"} 0`,
		`noderemover_drain_duration_seconds_count{outcome="timed_out"} 0`,
		`noderemover_records_corrupt_total 0`,
		`noderemover_drain_pdb_blocked_total 0`,
	} {
		if !strings.Contains(page, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
