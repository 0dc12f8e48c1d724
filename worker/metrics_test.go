package worker_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/metrics"
	"github.com/noderemover/noderemover/worker"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *worker.Config, _ *ccetest.Options) {
		c.Metrics = metrics.New(reg, metrics.Options{})
	})
	// The in-flight gauge of a second registry, as another worker would export it.
	reg2 := prometheus.NewRegistry()
	metrics.New(reg2, metrics.Options{OpenRequests: h.store.OpenCount})

	h.fake.Inject(ccetest.OpRemoveNodes, 1, ccetest.Fault{Status: 429, Code: "APIG.0308", Gateway: true})
	nodes := uids(30, 3)
	h.fake.FailRemoval(nodes[2])
	h.enqueue(enqueuer.Request{ID: "measured", ClusterID: "c1", Nodes: nodes})
	if text := scrape(t, reg2); !strings.Contains(text, "noderemover_requests_in_flight 1\n") {
		t.Errorf("in flight before the worker ran:\n%s", grep(text, "in_flight"))
	}
	h.start()
	h.waitFinal("measured", finalWithin)

	text := scrape(t, reg)
	for _, want := range []string{
		`noderemover_requests_finished_total{region="",state="failed"} 1`,
		`noderemover_nodes_finished_total{outcome="removed",region=""} 2`,
		`noderemover_nodes_finished_total{outcome="failed",region=""} 1`,
		`noderemover_cce_requests_total{code="429",operation="RemoveNodes",region=""} 1`,
		`noderemover_cce_requests_total{code="200",operation="RemoveNodes",region=""} 1`,
		`noderemover_cce_throttled_total{operation="RemoveNodes",region=""} 1`,
		`noderemover_cce_request_duration_seconds_count{operation="ShowJob",region=""}`,
		`noderemover_phase_duration_seconds_count{phase="queued"} 1`,
		`noderemover_phase_duration_seconds_count{phase="submitting"} 1`,
		`noderemover_phase_duration_seconds_count{phase="job"} 1`,
		`noderemover_job_polls_count 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "measured") || strings.Contains(text, nodes[0]) {
		t.Error("a request or node id is a label value")
	}
	if text := scrape(t, reg2); !strings.Contains(text, "noderemover_requests_in_flight 0\n") {
		t.Errorf("in flight after the request ended:\n%s", grep(text, "in_flight"))
	}
}

// scrape renders reg as Prometheus would read it.
func scrape(tb testing.TB, reg *prometheus.Registry) string {
	tb.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		tb.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func grep(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
