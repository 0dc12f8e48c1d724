package store_test

import (
	"testing"
	"time"
)

func TestReconcileClaimIsOneHolderAtATime(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	first, _, err := s.ClaimReconcile(ctx, "b1", time.Minute)
	if err != nil || first == "" {
		t.Fatalf("first claim: %q, %v", first, err)
	}
	second, left, err := s.ClaimReconcile(ctx, "b1", time.Minute)
	if err != nil || second != "" || left <= 50*time.Second || left > time.Minute {
		t.Fatalf("second claim: %q, left %v, %v; want refused with about a minute left", second, left, err)
	}
	if other, _, err := s.ClaimReconcile(ctx, "b2", time.Minute); err != nil || other == "" {
		t.Fatalf("another batch's claim: %q, %v", other, err)
	}
	if err := s.ReleaseReconcile(ctx, "b1", "not-the-token"); err != nil {
		t.Fatal(err)
	}
	if again, _, _ := s.ClaimReconcile(ctx, "b1", time.Minute); again != "" {
		t.Fatal("a release with another token freed the claim")
	}
	if err := s.ReleaseReconcile(ctx, "b1", first); err != nil {
		t.Fatal(err)
	}
	if again, _, err := s.ClaimReconcile(ctx, "b1", time.Minute); err != nil || again == "" {
		t.Fatalf("claim after release: %q, %v", again, err)
	}
}
