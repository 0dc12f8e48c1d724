package removal_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/removal"
)

func newStore(t *testing.T) (*removal.Store, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	return removal.NewStore(srv.Client(t), removal.StoreOptions{TTL: time.Hour}), srv
}

func request(id string, n int) removal.Request {
	return removal.Request{ID: id, ProjectID: "p1", ClusterID: "c1", Nodes: nodes(n), Login: removal.Login{SSHKey: "key"}}
}

func TestCreateIsIdempotent(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	rec, created, err := s.Create(ctx, request("r1", 2))
	if err != nil || !created || rec.State != removal.StateQueued || len(rec.Nodes) != 2 {
		t.Fatalf("first create: %+v %v %v", rec, created, err)
	}
	again, created, err := s.Create(ctx, request("r1", 2))
	if err != nil || created || again.RequestID != "r1" || !again.CreatedAt.Equal(rec.CreatedAt) {
		t.Fatalf("second create: %+v %v %v", again, created, err)
	}
	_, _, err = s.Create(ctx, request("r1", 3))
	if !errors.Is(err, removal.ErrConflict) {
		t.Fatalf("same id, other nodes: %v, want ErrConflict", err)
	}
}

func TestNodeInUnfinishedRequestIsRefused(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if _, _, err := s.Create(ctx, request("first", 2)); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Create(ctx, request("second", 1))
	var busy *removal.NodeBusyError
	if !errors.As(err, &busy) || busy.RequestID != "first" || busy.Node != nodes(1)[0] || !errors.Is(err, removal.ErrNodeBusy) {
		t.Fatalf("error %v, want NodeBusyError naming request first", err)
	}
	if _, err := s.Get(ctx, "second"); !errors.Is(err, removal.ErrNotFound) {
		t.Fatalf("refused request was stored: %v", err)
	}
	// Once the first is final its nodes are free again.
	if _, _, err := s.Update(ctx, "first", func(r *removal.Record) error { r.Fail("test", time.Now()); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, request("second", 1)); err != nil {
		t.Fatalf("node still held after the first request ended: %v", err)
	}
}

func TestConcurrentCreatesClaimANodeOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.Create(ctx, request(fmt.Sprintf("racer-%d", i), 1))
			switch {
			case err == nil:
				mu.Lock()
				won++
				mu.Unlock()
			case !errors.Is(err, removal.ErrNodeBusy):
				t.Errorf("racer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d requests hold the same node, want 1", won)
	}
}

func TestCreateValidates(t *testing.T) {
	s, srv := newStore(t)
	r := request("bad", 1)
	r.Nodes = nil
	if _, _, err := s.Create(context.Background(), r); !errors.Is(err, removal.ErrInvalid) {
		t.Fatalf("error %v", err)
	}
	if n, _ := srv.Client(t).DBSize(context.Background()).Result(); n != 0 {
		t.Fatalf("%d keys written for an invalid request", n)
	}
}

func TestDiscard(t *testing.T) {
	s, srv := newStore(t)
	ctx := context.Background()
	if _, _, err := s.Create(ctx, request("gone", 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if n, _ := srv.Client(t).DBSize(ctx).Result(); n != 0 {
		keys, _ := srv.Client(t).Keys(ctx, "*").Result()
		t.Fatalf("keys left after discard: %v", keys)
	}
	if _, _, err := s.Create(ctx, request("started", 1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.StartBatch(ctx, []string{"started"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(ctx, "started"); err == nil {
		t.Fatal("discarded a request already in a batch")
	}
}

func TestRecordsExpire(t *testing.T) {
	s, srv := newStore(t)
	ctx := context.Background()
	if _, _, err := s.Create(ctx, request("ttl", 1)); err != nil {
		t.Fatal(err)
	}
	ttl, err := srv.Client(t).TTL(ctx, "{noderemover}:request:ttl").Result()
	if err != nil || ttl <= 0 || ttl > time.Hour {
		t.Fatalf("ttl %v %v, want up to an hour", ttl, err)
	}
}

func TestBatchLifecycle(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		r := request(id, 2)
		r.Nodes = []string{fmt.Sprintf("%s0000000-0000-4000-8000-000000000001", id), fmt.Sprintf("%s0000000-0000-4000-8000-000000000002", id)}
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	b, changes, err := s.StartBatch(ctx, []string{"a", "b", "missing"}, nil)
	if err != nil || len(b.Members) != 2 || len(changes) != 2 || b.State != removal.BatchReady {
		t.Fatalf("start: %+v %v %v", b, changes, err)
	}
	if _, _, err := s.StartBatch(ctx, []string{"a"}, nil); !errors.Is(err, removal.ErrNothingQueued) {
		t.Fatalf("a request went into two batches: %v", err)
	}
	now := time.Now()
	b, _, err = s.UpdateBatch(ctx, b, func(b *removal.Batch, recs map[string]*removal.Record) error {
		return b.MarkSending(recs, now.Add(time.Minute), now)
	})
	if err != nil || b.State != removal.BatchSending || b.Attempt != 1 {
		t.Fatalf("sending: %+v %v", b, err)
	}
	b, changes, err = s.UpdateBatch(ctx, b, func(b *removal.Batch, recs map[string]*removal.Record) error {
		b.Accept(recs, "job-1", now)
		return nil
	})
	if err != nil || b.State != removal.BatchAccepted || len(changes) != 2 {
		t.Fatalf("accept: %+v %v %v", b, changes, err)
	}
	a, _ := s.Get(ctx, "a")
	if a.State != removal.StatePolling || a.JobID != "job-1" || a.Attempts != 1 || a.Nodes[0].State != removal.NodeRemoving {
		t.Fatalf("record a: %+v", a)
	}
	outcomes := map[string]removal.Node{}
	for _, uid := range b.Nodes() {
		outcomes[uid] = removal.Node{State: removal.NodeRemoved}
	}
	outcomes[b.Nodes()[3]] = removal.Node{State: removal.NodeFailed, Reason: "boom"}
	b, _, err = s.UpdateBatch(ctx, b, func(b *removal.Batch, recs map[string]*removal.Record) error {
		b.Resolve(recs, outcomes, now)
		return nil
	})
	if err != nil || b.State != removal.BatchDone {
		t.Fatalf("resolve: %+v %v", b, err)
	}
	a, _ = s.Get(ctx, "a")
	bb, _ := s.Get(ctx, "b")
	if a.State != removal.StateSucceeded || bb.State != removal.StateFailed || bb.Nodes[1].Reason != "boom" {
		t.Fatalf("a %s, b %s %+v", a.State, bb.State, bb.Nodes)
	}
	// Final requests free their nodes.
	r := request("again", 1)
	r.Nodes = []string{"a0000000-0000-4000-8000-000000000001"}
	if _, _, err := s.Create(ctx, r); err != nil {
		t.Fatalf("node of a finished request still held: %v", err)
	}
}

func TestUpdateErrorWritesNothing(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if _, _, err := s.Create(ctx, request("keep", 1)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, _, err := s.Update(ctx, "keep", func(r *removal.Record) error { r.State = removal.StateFailed; return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	if r, _ := s.Get(ctx, "keep"); r.State != removal.StateQueued {
		t.Fatalf("state %s written despite the error", r.State)
	}
	if _, _, err := s.Update(ctx, "nope", func(*removal.Record) error { return nil }); !errors.Is(err, removal.ErrNotFound) {
		t.Fatalf("missing record: %v", err)
	}
}

// TestUpdateBatchNeverOverwritesAnotherWriter checks the one-round-trip path
// of UpdateBatch: it must notice a write it did not make and start over.
func TestUpdateBatchNeverOverwritesAnotherWriter(t *testing.T) {
	s, srv := newStore(t)
	other := removal.NewStore(srv.Client(t), removal.StoreOptions{TTL: time.Hour}) // another worker process
	ctx := context.Background()
	if _, _, err := s.Create(ctx, request("r", 1)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	b, _, err := s.StartBatch(ctx, []string{"r"}, func(b *removal.Batch, recs map[string]*removal.Record) error {
		return b.MarkSending(recs, now.Add(time.Minute), now)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Another process changes the batch behind this one's back.
	if _, _, err := other.UpdateBatch(ctx, &removal.Batch{ID: b.ID, Members: b.Members}, func(b *removal.Batch, _ map[string]*removal.Record) error {
		b.LastError = "written by the other worker"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.UpdateBatch(ctx, b, func(b *removal.Batch, recs map[string]*removal.Record) error {
		b.Accept(recs, "job-1", now)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.LastError != "written by the other worker" || got.JobID != "job-1" {
		t.Fatalf("batch %+v: the other writer's change was lost", got)
	}
	// A later update from a bare hint (as a poll makes) settles the batch and frees the node.
	if _, _, err := s.UpdateBatch(ctx, &removal.Batch{ID: b.ID, Members: []removal.Member{{RequestID: "r"}}}, func(b *removal.Batch, recs map[string]*removal.Record) error {
		b.Resolve(recs, map[string]removal.Node{nodes(1)[0]: {State: removal.NodeRemoved}}, now)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if r, _ := other.Get(ctx, "r"); r.State != removal.StateSucceeded {
		t.Fatalf("state %s", r.State)
	}
	if _, _, err := other.Create(ctx, request("next", 1)); err != nil {
		t.Fatalf("node still claimed: %v", err)
	}
}
