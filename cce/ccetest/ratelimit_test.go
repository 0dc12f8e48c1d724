package ccetest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
	"github.com/noderemover/noderemover/internal/testkit"
)

// expectThrottled checks a gateway 429 APIG.0308 with the given Retry-After.
func expectThrottled(tb testing.TB, err error, retryAfter time.Duration) {
	tb.Helper()
	e := asError(tb, err)
	if e.StatusCode != 429 || e.Code != "APIG.0308" || e.RetryAfter != retryAfter || cce.Classify(err) != cce.ClassThrottled {
		tb.Errorf("err = %+v, want 429 APIG.0308 retry after %v", e, retryAfter)
	}
}

func TestWriteRate(t *testing.T) {
	clk := testkit.NewClock(time.Time{})
	srv := newServer(t, ccetest.Options{WriteRate: 1, Now: clk.Now})
	srv.AddNodes(project, cluster, "n1", "n2", "n3")
	c := newClient(t, srv, 0)
	ctx := t.Context()
	if _, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n1"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n2"})
	expectThrottled(t, err, time.Second)
	if _, err := c.ShowNode(ctx, project, cluster, "n3"); err != nil {
		t.Errorf("reads are limited by writes: %v", err)
	}
	clk.Advance(400 * time.Millisecond)
	_, err = c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n2"})
	expectThrottled(t, err, 600*time.Millisecond)
	clk.Advance(600 * time.Millisecond)
	if _, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n2"}); err != nil {
		t.Errorf("after waiting Retry-After: %v", err)
	}
	if got := len(srv.Removals()); got != 2 {
		t.Errorf("%d removals accepted, want 2", got)
	}
	if srv.Answers(ccetest.OpRemoveNodes, 429) != 2 {
		t.Errorf("Answers(RemoveNodes, 429) = %d", srv.Answers(ccetest.OpRemoveNodes, 429))
	}
}

func TestReadRate(t *testing.T) {
	clk := testkit.NewClock(time.Time{})
	srv := newServer(t, ccetest.Options{ReadRate: 2, AutoNodes: true, Now: clk.Now})
	c := newClient(t, srv, 0)
	ctx := t.Context()
	// Two reads in any second, however close together.
	if _, err := c.ShowNode(ctx, project, cluster, "n1"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(300 * time.Millisecond)
	if _, err := c.ShowNode(ctx, project, cluster, "n1"); err != nil {
		t.Fatalf("second read in the second: %v", err)
	}
	clk.Advance(200 * time.Millisecond)
	_, err := c.ShowJob(ctx, project, "some-job")
	expectThrottled(t, err, 500*time.Millisecond)
	if _, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n1"}); err != nil {
		t.Errorf("writes are limited by reads: %v", err)
	}
	t.Run("GatewaySpelling", func(t *testing.T) {
		r := send(t, srv, http.MethodGet, "/api/v3/projects/"+project+"/clusters/"+cluster+"/nodes/n2", "", "")
		if r.status != 429 || !strings.Contains(r.body, `"error_code":"APIG.0308"`) ||
			!strings.Contains(r.body, "limit:2, time:1 second") || r.header.Get("Retry-After") != "0.5" {
			t.Errorf("answer %d %q Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
		}
	})
	clk.Advance(500 * time.Millisecond)
	if _, err := c.ShowNode(ctx, project, cluster, "n2"); err != nil {
		t.Errorf("after waiting Retry-After: %v", err)
	}
	// The window slides: the read at 0.3 s still counts until 1.3 s.
	clk.Advance(100 * time.Millisecond)
	_, err = c.ShowNode(ctx, project, cluster, "n2")
	expectThrottled(t, err, 200*time.Millisecond)
}

func TestSlowRateIsOneCallPerPeriod(t *testing.T) {
	clk := testkit.NewClock(time.Time{})
	srv := newServer(t, ccetest.Options{WriteRate: 0.5, Now: clk.Now})
	srv.AddNodes(project, cluster, "n1", "n2")
	c := newClient(t, srv, 0)
	ctx := t.Context()
	if _, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n1"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(1500 * time.Millisecond)
	_, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n2"})
	expectThrottled(t, err, 500*time.Millisecond)
	clk.Advance(500 * time.Millisecond)
	if _, err := c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"n2"}); err != nil {
		t.Errorf("after waiting Retry-After: %v", err)
	}
}
