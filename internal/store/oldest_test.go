package store_test

import (
	"testing"
	"time"
)

// OldestOpen is the creation time of the oldest request not final, and
// nothing once every request is final.
func TestOldestOpen(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	if _, ok, err := s.OldestOpen(ctx); err != nil || ok {
		t.Fatalf("empty store: ok %v, err %v", ok, err)
	}
	first, _, err := s.Create(ctx, request("first", 1))
	if err != nil {
		t.Fatal(err)
	}
	r2 := request("second", 1)
	r2.Nodes = []string{"00000000-0000-4000-8000-0000000000ff"}
	if _, _, err := s.Create(ctx, r2); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.OldestOpen(ctx)
	if err != nil || !ok || !got.Equal(first.CreatedAt.Truncate(time.Millisecond)) {
		t.Fatalf("OldestOpen = %v %v %v, want %v", got, ok, err, first.CreatedAt)
	}
	for _, id := range []string{"first", "second"} {
		if _, _, err := s.Abandon(ctx, id, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := s.OldestOpen(ctx); err != nil || ok {
		t.Fatalf("all final: ok %v, err %v", ok, err)
	}
}
