package store_test

import (
	"errors"
	"testing"

	"github.com/noderemover/noderemover/removal"
)

// TestAdmitChecksTheBudgetVersion: two admissions decided from the same
// read cannot both be written (the second is stale and decides again); a
// request's admission ends with the request.
func TestAdmitChecksTheBudgetVersion(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	a, b := request("a", 1), request("b", 1)
	b.Nodes = []string{"00000000-0000-4000-8000-0000000000bb"}
	for _, r := range []removal.Request{a, b} {
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	seen, err := s.Disruption(ctx, "p1", "c1")
	if err != nil || len(seen.Admitted) != 0 {
		t.Fatalf("%+v %v", seen, err)
	}
	if _, err := s.Admit(ctx, "a", seen); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Admit(ctx, "b", seen); !errors.Is(err, removal.ErrStale) {
		t.Fatalf("an admission decided from a stale read: %v", err)
	}
	now, err := s.Disruption(ctx, "p1", "c1")
	if err != nil || len(now.Admitted) != 1 || len(now.Admitted["a"]) != 1 || now.Version == seen.Version {
		t.Fatalf("%+v %v", now, err)
	}
	if _, err := s.Admit(ctx, "b", now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Abandon(ctx, "a", "test"); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Disruption(ctx, "p1", "c1"); len(d.Admitted) != 1 || d.Admitted["b"] == nil {
		t.Errorf("after a ended: %+v", d)
	}
}
