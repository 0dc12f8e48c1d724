package store_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/store/storetest"
	"github.com/noderemover/noderemover/removal"
)

func TestCreateIsIdempotent(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
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
	ctx := t.Context()
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
	if _, _, err := s.Abandon(ctx, "first", "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, request("second", 1)); err != nil {
		t.Fatalf("node still held after the first request ended: %v", err)
	}
}

func TestConcurrentCreatesClaimANodeOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
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
	if _, _, err := s.Create(t.Context(), r); !errors.Is(err, removal.ErrInvalid) {
		t.Fatalf("error %v", err)
	}
	if n, _ := srv.Client(t).DBSize(t.Context()).Result(); n != 0 {
		t.Fatalf("%d keys written for an invalid request", n)
	}
}

func TestDiscard(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	if _, _, err := s.Create(ctx, request("gone", 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := srv.Client(t).Keys(ctx, "*").Result(); !slices.Equal(keys, []string{"{noderemover}:events"}) {
		t.Fatalf("keys left after discard: %v", keys)
	}
	evs, err := s.EventsAfter(ctx, "", 10)
	if err != nil || len(evs) != 2 || evs[1].Type != removal.EventTypePrefix+"request.discarded" {
		t.Fatalf("events %+v (%v), want queued then discarded", evs, err)
	}
	if _, _, err := s.Create(ctx, request("started", 1)); err != nil {
		t.Fatal(err)
	}
	storetest.Form(t, s, time.Time{}, "started")
	if err := s.Discard(ctx, "started"); err == nil {
		t.Fatal("discarded a request already in a batch")
	}
}

func TestRecordsExpire(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	if _, _, err := s.Create(ctx, request("ttl", 1)); err != nil {
		t.Fatal(err)
	}
	ttl, err := srv.Client(t).TTL(ctx, "{noderemover}:request:ttl").Result()
	if err != nil || ttl <= 0 || ttl > time.Hour {
		t.Fatalf("ttl %v %v, want up to an hour", ttl, err)
	}
}

func TestAbandon(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	if _, _, err := s.Create(ctx, request("open", 2)); err != nil {
		t.Fatal(err)
	}
	rec, ch, err := s.Abandon(ctx, "open", "gave up: boom")
	if err != nil || ch == nil || ch.From != removal.StateQueued || rec.State != removal.StateFailed || rec.Error != "gave up: boom" {
		t.Fatalf("%+v %+v %v", rec, ch, err)
	}
	if n, _ := s.OpenCount(ctx); n != 0 {
		t.Errorf("%d open requests after the only one ended", n)
	}
	if _, ch, err := s.Abandon(ctx, "open", "again"); err != nil || ch != nil {
		t.Errorf("abandoning a final request: %+v %v, want nothing", ch, err)
	}
	if _, _, err := s.Create(ctx, request("next", 2)); err != nil {
		t.Errorf("nodes of the abandoned request still held: %v", err)
	}
}
