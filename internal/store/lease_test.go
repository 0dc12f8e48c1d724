package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/internal/store/storetest"
	"github.com/noderemover/noderemover/removal"
)

// TestClusterLease: one holder at a time — a worker forming the next batch,
// then the batch it formed — until the batch ends and gives it back; a
// lease left behind by a batch that ended does not keep the cluster.
func TestClusterLease(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	rdb := srv.Client(t)
	for i, id := range []string{"r", "other"} {
		r := request(id, 1)
		r.Nodes = nodes(2)[i : i+1]
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	_, f, err := s.BeginForming(ctx, "r", "p1", "c1", time.Minute, false)
	if err != nil || f == nil || f.Token == "" {
		t.Fatalf("take a free cluster: %+v, %v", f, err)
	}
	var busy *store.BusyError
	if _, _, err := s.BeginForming(ctx, "other", "p1", "c1", time.Minute, false); !errors.As(err, &busy) || !busy.Forming() || busy.Left < 50*time.Second {
		t.Fatalf("take it again while forming: %v, want busy with a forming holder", err)
	}
	if err := s.ReleaseForming(ctx, &store.Forming{Project: "p1", Cluster: "c1", Token: "forming:not-mine"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.BeginForming(ctx, "other", "p1", "c1", time.Minute, false); err == nil {
		t.Fatal("another token's release freed the lease")
	}
	if err := s.ReleaseForming(ctx, f); err != nil {
		t.Fatal(err)
	}

	// Forming hands the lease to the batch; the batch renews and holds it.
	b := storetest.Form(t, s, time.Now().Add(time.Minute), "r")
	if holder, _ := rdb.Get(ctx, "{noderemover}:lease:p1:c1").Result(); holder != b.ID {
		t.Fatalf("lease holder %q, want batch %s", holder, b.ID)
	}
	if _, _, err := s.BeginForming(ctx, "other", "p1", "c1", time.Minute, false); !errors.As(err, &busy) || busy.BatchID != b.ID {
		t.Fatalf("forming while a batch holds it: %v, want busy naming %s", err, b.ID)
	}
	if err := s.HoldLease(ctx, b, 2*time.Minute); err != nil {
		t.Fatalf("the holder holds again: %v", err)
	}
	if ok, err := s.RenewLease(ctx, b, 3*time.Minute); !ok || err != nil {
		t.Fatalf("renew: %v %v", ok, err)
	}
	if ttl, _ := rdb.PTTL(ctx, "{noderemover}:lease:p1:c1").Result(); ttl < 2*time.Minute {
		t.Errorf("lease lives %v after renewal, want about 3m", ttl)
	}
	stranger := &removal.Batch{ID: "stranger", ProjectID: "p1", ClusterID: "c1"}
	if err := s.HoldLease(ctx, stranger, time.Minute); !errors.As(err, &busy) {
		t.Errorf("another batch takes a held lease: %v", err)
	}
	if ok, _ := s.RenewLease(ctx, stranger, time.Minute); ok {
		t.Error("another batch renewed the lease")
	}

	// The batch ends: the lease is free, and the next forming may begin.
	res, err := s.Step(ctx, b, removal.EventThrottled, removal.Input{Now: time.Now(), Reason: "429"})
	if err != nil || res.Batch.State != removal.BatchDone || res.Next != "r" {
		t.Fatalf("end the batch: %+v %v; want it done and r waiting next", res, err)
	}
	if n, _ := rdb.Exists(ctx, "{noderemover}:lease:p1:c1").Result(); n != 0 {
		t.Error("a batch that ended kept its cluster's lease")
	}

	// A lease whose release was lost (its batch is done, or gone) is taken over.
	for _, holder := range []string{b.ID, "gone-batch"} {
		if err := rdb.Set(ctx, "{noderemover}:lease:p1:c1", holder, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		_, f, err := s.BeginForming(ctx, "other", "p1", "c1", time.Minute, false)
		if err != nil || f == nil {
			t.Fatalf("take over the lease of %s: %+v, %v", holder, f, err)
		}
		if err := s.ReleaseForming(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBeginForming reads the request and its cluster's waiting requests
// with the lease in one go; for a request that is not queued it keeps no
// lease, and for a busy cluster it says so.
func TestBeginForming(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	rdb := srv.Client(t)
	for i, id := range []string{"a", "b"} {
		r := request(id, 1)
		r.Nodes = nodes(2)[i : i+1]
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rec, f, err := s.BeginForming(ctx, "b", "p1", "c1", time.Minute, false)
	if err != nil || f == nil || rec.RequestID != "b" || len(f.IDs) != 2 || f.IDs[0] != "a" || f.Records["a"] == nil {
		t.Fatalf("begin forming: %+v %+v %v", rec, f, err)
	}
	var busy *store.BusyError
	if _, f2, err := s.BeginForming(ctx, "a", "p1", "c1", time.Minute, false); !errors.As(err, &busy) || f2 != nil {
		t.Fatalf("a second forming: %+v %v, want busy", f2, err)
	}
	if err := s.ReleaseForming(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Abandon(ctx, "a", "test"); err != nil {
		t.Fatal(err)
	}
	if rec, f, err := s.BeginForming(ctx, "a", "p1", "c1", time.Minute, false); err != nil || f != nil || rec.State != removal.StateFailed {
		t.Fatalf("forming for a final request: %+v %+v %v", rec, f, err)
	}
	if n, _ := rdb.Exists(ctx, "{noderemover}:lease:p1:c1").Result(); n != 0 {
		t.Error("forming for a final request kept the lease")
	}
	if _, _, err := s.BeginForming(ctx, "nope", "p1", "c1", time.Minute, false); !errors.Is(err, removal.ErrNotFound) {
		t.Errorf("forming for an unknown request: %v", err)
	}
}

// TestFormIsNotSpoiledByNewArrivals: a request that arrives while a batch
// forms joins the next one; the batch being formed is still written. One
// whose member changed is not written (removal.ErrStale).
func TestFormIsNotSpoiledByNewArrivals(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	create := func(id string, node int) {
		t.Helper()
		r := request(id, 1)
		r.Nodes = []string{nodes(node + 1)[node]}
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	create("first", 0)
	_, f, err := s.BeginForming(ctx, "first", "p1", "c1", time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	pick := removal.PickMembers(f.IDs, f.Records, removal.FormOptions{Merge: true}, now)
	for i := range 20 { // they arrive between the read and the write
		create("late-"+string(rune('a'+i)), i+1)
	}
	b, changes := removal.NewBatch("b1", "p1", "c1", pick, now)
	if err := s.Form(ctx, f, b, changes, pick.Stale, time.Minute); err != nil {
		t.Fatalf("form after arrivals: %v", err)
	}
	if r, _ := s.Get(ctx, "late-a"); r.State != removal.StateQueued {
		t.Errorf("a late request is %s, want waiting for the next batch", r.State)
	}

}

// TestFormOfAChangedMemberIsStale: when a picked request changed before the
// write (cancelled here), nothing is written and the error is
// removal.ErrStale.
func TestFormOfAChangedMemberIsStale(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	if _, _, err := s.Create(ctx, request("x", 1)); err != nil {
		t.Fatal(err)
	}
	_, f, err := s.BeginForming(ctx, "x", "p1", "c1", time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	pick := removal.PickMembers(f.IDs, f.Records, removal.FormOptions{}, now)
	if _, _, err := s.Cancel(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	b, changes := removal.NewBatch("b1", "p1", "c1", pick, now)
	if err := s.Form(ctx, f, b, changes, pick.Stale, time.Minute); !errors.Is(err, removal.ErrStale) {
		t.Fatalf("form of a cancelled request: %v, want ErrStale", err)
	}
	rdb := srv.Client(t)
	if n, _ := rdb.Exists(ctx, "{noderemover}:batch:b1").Result(); n != 0 {
		t.Error("a stale form wrote its batch")
	}
	if r, _ := s.Get(ctx, "x"); r.State != removal.StateCancelled {
		t.Errorf("request is %s, want cancelled as the cancel left it", r.State)
	}
	if holder, _ := rdb.Get(ctx, "{noderemover}:lease:p1:c1").Result(); holder != f.Token {
		t.Errorf("lease %q, want still the forming's", holder)
	}
}

// TestBeginFormingAfterRedisForgotItsScripts: a Redis that restarted has
// forgotten the scripts loaded before; forming sends its script whole then.
func TestBeginFormingAfterRedisForgotItsScripts(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	if _, _, err := s.Create(ctx, request("r", 1)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, f, err := s.BeginForming(ctx, "r", "p1", "c1", time.Minute, false); err != nil || f == nil || f.Token == "" {
		t.Fatalf("begin forming after SCRIPT FLUSH: %+v, %v", f, err)
	}
}
