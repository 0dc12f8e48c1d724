package cce_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/noderemover/noderemover/cce"
	"github.com/noderemover/noderemover/cce/ccetest"
)

func TestObserveSeesEveryCall(t *testing.T) {
	srv := ccetest.NewServer(ccetest.Options{Token: "observe-token"})
	defer srv.Close()
	srv.Inject(ccetest.OpShowJob, 1, ccetest.Fault{Status: 429})
	var mu sync.Mutex
	var seen []string
	c, err := cce.New(cce.Config{Endpoint: srv.URL, Auth: cce.TokenAuth{Token: "observe-token"},
		Observe: func(op string, status int, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if d <= 0 {
				t.Errorf("%s: duration %v", op, d)
			}
			seen = append(seen, op+" "+strconv.Itoa(status))
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, _ = c.ShowJob(ctx, "p", "j")
	_, _ = c.ShowNode(ctx, "p", "c", "00000000-0000-4000-8000-000000000001")
	want := []string{"ShowJob 429", "ShowNode 404"}
	if len(seen) != len(want) || seen[0] != want[0] || seen[1] != want[1] {
		t.Fatalf("observed %v, want %v", seen, want)
	}
}

func TestJobDuration(t *testing.T) {
	j := cce.Job{}
	j.Metadata.CreationTimestamp = "2020-02-02 08:12:40.672772389 +0000 UTC"
	j.Metadata.UpdateTimestamp = "2020-02-02 08:14:10.672772389 +0000 UTC m=+3.000000001"
	if d, ok := j.Duration(); !ok || d != 90*time.Second {
		t.Errorf("%v %v", d, ok)
	}
	j.Metadata.UpdateTimestamp = "yesterday"
	if _, ok := j.Duration(); ok {
		t.Error("garbage parsed")
	}
}
