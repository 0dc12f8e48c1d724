package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// The oldest open request's age is read at each scrape: 0 when none is
// open, -1 when Redis does not answer (an impossible age, not a stale one).
func TestOldestOpenRequestAge(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name    string
		created time.Time
		ok      bool
		err     error
		want    string
	}{
		{"Open", now.Add(-90 * time.Second), true, nil, "90"},
		{"NoneOpen", time.Time{}, false, nil, "0"},
		{"RedisAway", time.Time{}, false, errors.New("dial tcp: connection refused"), "-1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := metrics.NewRegistry()
			metrics.New(reg, metrics.Options{
				OldestOpen: func(context.Context) (time.Time, bool, error) { return c.created, c.ok, c.err },
				Now:        func() time.Time { return now },
			})
			want := "noderemover_oldest_open_request_age_seconds " + c.want + "\n"
			if page := scrapePage(t, reg); !strings.Contains(page, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		})
	}
}

// scrapePage is reg's /metrics page.
func scrapePage(tb testing.TB, reg *prometheus.Registry) string {
	tb.Helper()
	hs := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer hs.Close()
	resp, err := http.Get(hs.URL)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(raw)
}
