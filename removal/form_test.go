package removal_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/noderemover/noderemover/removal"
)

// nodeRange is n node uids starting at the from-th.
func nodeRange(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", from+i)
	}
	return out
}

// TestFormBatchWaitsForTheWindowUnlessFull: a cluster's batch waits out the
// window after its oldest request, unless MaxNodes nodes of one login are
// waiting already; then it goes at once with those, and another login
// waits for the next batch.
func TestFormBatchWaitsForTheWindowUnlessFull(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	create := func(id string, nodes []string, login removal.Login) {
		t.Helper()
		if _, _, err := s.Create(ctx, removal.Request{ID: id, ProjectID: "p1", ClusterID: "c1", Nodes: nodes, Login: login}); err != nil {
			t.Fatal(err)
		}
	}
	form := func() (*removal.Batch, error) {
		b, _, err := s.FormBatch(ctx, "p1", "c1", removal.FormOptions{Merge: true, Window: time.Hour, LeaseTTL: time.Minute}, nil)
		return b, err
	}
	key, other := removal.Login{SSHKey: "key"}, removal.Login{SSHKey: "other-key"}

	create("first", nodeRange(0, 150), key)
	create("other-login", nodeRange(150, 60), other)
	var wait *removal.WaitError
	if b, err := form(); !errors.As(err, &wait) || wait.After <= 59*time.Minute || wait.After > time.Hour {
		t.Fatalf("150 nodes waiting: batch %+v, %v; want a wait of about the window", b, err)
	}

	create("fills-it", nodeRange(210, 50), key)
	b, err := form()
	if err != nil {
		t.Fatalf("200 nodes of one login waiting: %v; want a batch at once", err)
	}
	ids := map[string]bool{}
	for _, m := range b.Members {
		ids[m.RequestID] = true
	}
	if len(b.Members) != 2 || !ids["first"] || !ids["fills-it"] || b.Login != key {
		t.Fatalf("batch %+v, want first and fills-it with their login", b)
	}
	if n := len(b.Members[0].Nodes) + len(b.Members[1].Nodes); n != removal.MaxNodes {
		t.Errorf("batch of %d nodes, want %d", n, removal.MaxNodes)
	}
	var busy *removal.BusyError
	if _, err := form(); !errors.As(err, &busy) || busy.BatchID != b.ID {
		t.Errorf("next batch while %s holds the cluster: %v, want busy", b.ID, err)
	}
	rec, err := s.Get(ctx, "other-login")
	if err != nil || rec.State != removal.StateQueued || rec.BatchID != "" {
		t.Errorf("the other login's request: %+v, %v; want it still queued", rec, err)
	}
}

// TestFormBatchWithoutMergeGoesAtOnce: with merging off the window does not
// apply and each batch is the oldest request alone.
func TestFormBatchWithoutMergeGoesAtOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for i, id := range []string{"a", "b"} {
		req := removal.Request{ID: id, ProjectID: "p1", ClusterID: "c1", Nodes: nodeRange(i, 1), Login: removal.Login{SSHKey: "key"}}
		if _, _, err := s.Create(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	b, _, err := s.FormBatch(ctx, "p1", "c1", removal.FormOptions{Window: time.Hour, LeaseTTL: time.Minute}, nil)
	if err != nil || len(b.Members) != 1 || b.Members[0].RequestID != "a" {
		t.Fatalf("batch %+v, %v; want the oldest request alone, at once", b, err)
	}
}
