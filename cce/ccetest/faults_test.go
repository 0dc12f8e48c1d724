package ccetest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
)

func TestFaultsThroughClient(t *testing.T) {
	tests := []struct {
		name           string
		fault          ccetest.Fault
		wantStatus     int
		wantCode       string
		wantClass      cce.Class
		wantRetryAfter time.Duration
		wantInMessage  string
	}{
		{"500KeepsStatus", ccetest.Fault{Status: 500}, 500, "CCE.01500001", cce.ClassRetryable, 0, "500"},
		{"503", ccetest.Fault{Status: 503, Code: "CCE.01500002", Message: "busy"}, 503, "CCE.01500002", cce.ClassRetryable, 0, "busy"},
		{"429RetryAfterSeconds", ccetest.Fault{Status: 429, RetryAfter: "3"}, 429, "CCE.02429001", cce.ClassThrottled, 3 * time.Second, ""},
		{"429RetryAfterFraction", ccetest.Fault{Status: 429, RetryAfter: "0.5"}, 429, "CCE.02429001", cce.ClassThrottled, 500 * time.Millisecond, ""},
		{"403StateRetryable", ccetest.Fault{Status: 403, Code: "CCE.01403005"}, 403, "CCE.01403005", cce.ClassRetryable, 0, ""},
		{"NonJSON", ccetest.Fault{Status: 502, NonJSON: true}, 502, "", cce.ClassRetryable, 0, "502 Bad Gateway"},
		{"GatewaySpelling", ccetest.Fault{Status: 429, Code: "APIG.0308", Gateway: true, Message: "over ratelimit"}, 429, "APIG.0308", cce.ClassThrottled, 0, "over ratelimit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, ccetest.Options{})
			srv.AddNodes(project, cluster, "n1")
			c := newClient(t, srv, 0)
			srv.Inject(ccetest.OpShowNode, 1, tt.fault)
			_, err := c.ShowNode(t.Context(), project, cluster, "n1")
			e := asError(t, err)
			if e.StatusCode != tt.wantStatus || e.Code != tt.wantCode || e.RetryAfter != tt.wantRetryAfter ||
				e.RequestID == "" || !strings.Contains(e.Message, tt.wantInMessage) {
				t.Errorf("err = %+v", e)
			}
			if got := cce.Classify(err); got != tt.wantClass {
				t.Errorf("Classify = %v, want %v", got, tt.wantClass)
			}
			if _, err := c.ShowNode(t.Context(), project, cluster, "n1"); err != nil {
				t.Errorf("the fault outlived its one call: %v", err)
			}
			if srv.Calls(ccetest.OpShowNode) != 2 || srv.Answers(ccetest.OpShowNode, tt.wantStatus) != 1 ||
				srv.Answers(ccetest.OpShowNode, 200) != 1 {
				t.Errorf("Calls/Answers do not add up")
			}
		})
	}
}

func TestLoseAnswer(t *testing.T) {
	srv := newServer(t, ccetest.Options{JobDuration: time.Hour})
	srv.AddNodes(project, cluster, "n1")
	srv.Inject(ccetest.OpRemoveNodes, 1, ccetest.Fault{LoseAnswer: true})
	c := newClient(t, srv, 0)

	_, err := c.RemoveNodes(t.Context(), project, cluster, sshLogin, []string{"n1"})
	var e *cce.Error
	if err == nil || errors.As(err, &e) {
		t.Fatalf("err = %v, want a transport error", err)
	}
	if !cce.MaybeApplied(err) || cce.Classify(err) != cce.ClassRetryable {
		t.Errorf("MaybeApplied = %v, Classify = %v; want true, retryable", cce.MaybeApplied(err), cce.Classify(err))
	}
	removals := srv.Removals()
	if len(removals) != 1 || !slices.Equal(removals[0].Nodes, []string{"n1"}) {
		t.Fatalf("Removals = %+v, want the lost removal recorded", removals)
	}
	phase, jobID, _ := srv.Node(project, cluster, "n1")
	if phase != cce.NodeDeleting || jobID != removals[0].JobID {
		t.Errorf("node = %s %s, want Deleting with job %s", phase, jobID, removals[0].JobID)
	}
	if srv.Answers(ccetest.OpRemoveNodes, 0) != 1 {
		t.Errorf("the lost answer is not counted under status 0")
	}
}

func TestDelayHonoursClientTimeout(t *testing.T) {
	srv := newServer(t, ccetest.Options{AutoNodes: true})
	srv.Inject(ccetest.OpShowNode, 1, ccetest.Fault{Delay: time.Hour})
	c := newClient(t, srv, 100*time.Millisecond)
	_, err := c.ShowNode(t.Context(), project, cluster, "n1")
	if !errors.Is(err, context.DeadlineExceeded) || cce.Classify(err) != cce.ClassRetryable || !cce.MaybeApplied(err) {
		t.Fatalf("err = %v, want the client's deadline", err)
	}
	// The next call is not delayed; Close (in Cleanup) must not wait an hour.
	if _, err := c.ShowNode(t.Context(), project, cluster, "n1"); err != nil {
		t.Error(err)
	}
}

func TestShortDelayAndLatencyAnswer(t *testing.T) {
	srv := newServer(t, ccetest.Options{AutoNodes: true})
	srv.SetLatency(10 * time.Millisecond)
	srv.Inject(ccetest.OpAny, 1, ccetest.Fault{Delay: 10 * time.Millisecond})
	c := newClient(t, srv, 0)
	if _, err := c.ShowNode(t.Context(), project, cluster, "n1"); err != nil {
		t.Error(err)
	}
}

func TestFaultsQueueInOrder(t *testing.T) {
	srv := newServer(t, ccetest.Options{AutoNodes: true})
	srv.Inject(ccetest.OpShowNode, 2, ccetest.Fault{Status: 500})
	srv.Inject(ccetest.OpShowNode, 1, ccetest.Fault{Status: 502})
	srv.Inject(ccetest.OpAny, 1, ccetest.Fault{Status: 504})
	c := newClient(t, srv, 0)
	var got []int
	for range 5 {
		_, err := c.ShowNode(t.Context(), project, cluster, "n1")
		status := 200
		if err != nil {
			status = asError(t, err).StatusCode
		}
		got = append(got, status)
	}
	if want := []int{500, 500, 502, 504, 200}; !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
}

// randomRun makes calls against a fake with random faults and returns the
// statuses seen (0 for a transport error).
func randomRun(tb testing.TB, rf ccetest.RandomFaults) []int {
	tb.Helper()
	srv := newServer(tb, ccetest.Options{AutoNodes: true})
	srv.SetRandomFaults(rf)
	c := newClient(tb, srv, 0)
	ctx := tb.Context()
	var statuses []int
	for i := range 40 {
		var err error
		if i%2 == 0 {
			_, err = c.ShowNode(ctx, project, cluster, "n1")
		} else {
			_, err = c.RemoveNodes(ctx, project, cluster, sshLogin, []string{"r" + strings.Repeat("x", i)})
		}
		var e *cce.Error
		switch {
		case err == nil:
			statuses = append(statuses, 200)
		case errors.As(err, &e):
			statuses = append(statuses, e.StatusCode)
		default:
			statuses = append(statuses, 0)
		}
	}
	return statuses
}

func TestRandomFaultsAreDeterministic(t *testing.T) {
	rf := ccetest.RandomFaults{Seed: 7, Error5xx: 0.2, Throttle: 0.2, LoseAnswer: 0.2, ReadError5xx: 0.3, ReadThrottle: 0.2, RetryAfter: "1"}
	first, second := randomRun(t, rf), randomRun(t, rf)
	if !slices.Equal(first, second) {
		t.Errorf("same seed, different runs:\n%v\n%v", first, second)
	}
	faulted := 0
	for _, s := range first {
		if s != 200 {
			faulted++
		}
	}
	if faulted == 0 || faulted == len(first) {
		t.Errorf("statuses %v: want some faults and some successes", first)
	}
}

func TestConcurrentUse(t *testing.T) {
	srv := newServer(t, ccetest.Options{JobDuration: 0})
	srv.SetRandomFaults(ccetest.RandomFaults{Seed: 1, Error5xx: 0.1, ReadThrottle: 0.1})
	c := newClient(t, srv, 0)
	var wg sync.WaitGroup
	for w := range 8 {
		clusterID := "c" + strings.Repeat("x", w)
		uids := []string{clusterID + "-a", clusterID + "-b"}
		srv.AddNodes(project, clusterID, uids...)
		wg.Go(func() {
			for _, uid := range uids {
				_, _ = c.RemoveNodes(t.Context(), project, clusterID, sshLogin, []string{uid})
				_, _ = c.ShowNode(t.Context(), project, clusterID, uid)
			}
			_ = srv.Removals()
			_, _, _ = srv.Node(project, clusterID, uids[0])
		})
	}
	wg.Wait()
	if d := srv.DoubleRemovals(); len(d) != 0 {
		t.Errorf("DoubleRemovals = %v", d)
	}
	if srv.Calls(ccetest.OpAny) != 32 {
		t.Errorf("Calls(OpAny) = %d, want 32", srv.Calls(ccetest.OpAny))
	}
}
