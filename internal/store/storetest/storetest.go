// Package storetest forms batches for other packages' tests the way the
// worker does (pick, mark, write), for tests that start from a batch a
// worker left behind.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
)

// Form forms a batch of the queued requests ids (of one cluster and login),
// holding the cluster's lease for a minute, and, when until is not zero,
// marks it sending until then, as a worker that died right after recording
// its intent would leave it.
func Form(tb testing.TB, s *store.Store, until time.Time, ids ...string) *removal.Batch {
	tb.Helper()
	ctx := context.Background()
	first, err := s.Get(ctx, ids[0])
	if err != nil {
		tb.Fatal(err)
	}
	_, f, err := s.BeginForming(ctx, ids[0], first.ProjectID, first.ClusterID, time.Minute, false)
	if err != nil || f == nil {
		tb.Fatalf("begin forming for %s: %v", ids[0], err)
	}
	now := time.Now().UTC()
	pick := removal.PickMembers(ids, f.Records, removal.FormOptions{Merge: true}, now)
	if len(pick.Members) != len(ids) {
		tb.Fatalf("of %v only %d can form a batch now: %+v", ids, len(pick.Members), pick)
	}
	b, changes := removal.NewBatch(uuid.NewString(), first.ProjectID, first.ClusterID, pick, now)
	if !until.IsZero() {
		if _, err := removal.Step(b, b, b.Records(pick.Members), removal.EventSend, removal.Input{Now: now, Until: until}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.Form(ctx, f, b, changes, nil, time.Minute); err != nil {
		tb.Fatal(err)
	}
	return b
}
