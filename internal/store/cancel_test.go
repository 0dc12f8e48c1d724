package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/store/storetest"
	"github.com/noderemover/noderemover/removal"
)

func TestCancel(t *testing.T) {
	ctx := t.Context()
	now := time.Now()

	t.Run("Queued", func(t *testing.T) {
		s, _ := newStore(t)
		if _, _, err := s.Create(ctx, request("q", 2)); err != nil {
			t.Fatal(err)
		}
		rec, ch, err := s.Cancel(ctx, "q")
		if err != nil || rec.State != removal.StateCancelled || ch == nil || ch.From != removal.StateQueued {
			t.Fatalf("%+v %+v %v", rec, ch, err)
		}
		if !strings.Contains(rec.Nodes[0].Reason, "cancelled") {
			t.Errorf("node reason %q", rec.Nodes[0].Reason)
		}
		if _, _, err := s.Create(ctx, request("again", 1)); err != nil {
			t.Fatalf("node still held: %v", err)
		}
		if _, ch, err := s.Cancel(ctx, "q"); err != nil || ch != nil {
			t.Fatalf("second cancel: %v %v", ch, err)
		}
		if n, _ := s.OpenCount(ctx); n != 1 {
			t.Errorf("%d open requests, want 1 (\"again\")", n)
		}
	})

	t.Run("InReadyBatch", func(t *testing.T) {
		s, _ := newStore(t)
		if _, _, err := s.Create(ctx, request("r", 1)); err != nil {
			t.Fatal(err)
		}
		b := storetest.Form(t, s, time.Time{}, "r")
		if rec, _, err := s.Cancel(ctx, "r"); err != nil || rec.State != removal.StateCancelled {
			t.Fatalf("%v %v", rec, err)
		}
		if got, _ := s.GetBatch(ctx, b.ID); got.State != removal.BatchDone || len(got.Members) != 0 {
			t.Fatalf("batch %+v still carries the request", got)
		}
	})

	t.Run("Sending", func(t *testing.T) {
		s, _ := newStore(t)
		if _, _, err := s.Create(ctx, request("r", 1)); err != nil {
			t.Fatal(err)
		}
		storetest.Form(t, s, now.Add(time.Minute), "r")
		_, _, err := s.Cancel(ctx, "r")
		if !errors.Is(err, removal.ErrNotCancellable) || !strings.Contains(err.Error(), "under way") {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("AcceptedNamesTheJob", func(t *testing.T) {
		s, _ := newStore(t)
		if _, _, err := s.Create(ctx, request("r", 1)); err != nil {
			t.Fatal(err)
		}
		b := storetest.Form(t, s, now.Add(time.Minute), "r")
		if _, err := s.Step(ctx, b, removal.EventAccepted, removal.Input{Now: now, JobID: "job-42"}); err != nil {
			t.Fatal(err)
		}
		before, _ := s.Get(ctx, "r")
		_, _, err := s.Cancel(ctx, "r")
		var nc *removal.NotCancellableError
		if !errors.As(err, &nc) || nc.JobID != "job-42" || !strings.Contains(err.Error(), "job-42") {
			t.Fatalf("error %v, want one naming job-42", err)
		}
		after, _ := s.Get(ctx, "r")
		if after.State != before.State || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("record changed: %+v", after)
		}
	})

	t.Run("Finished", func(t *testing.T) {
		s, _ := newStore(t)
		if _, _, err := s.Create(ctx, request("r", 1)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Abandon(ctx, "r", "x"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Cancel(ctx, "r"); !errors.Is(err, removal.ErrNotCancellable) || !strings.Contains(err.Error(), "ended failed") {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		s, _ := newStore(t)
		if _, _, err := s.Cancel(ctx, "nope"); !errors.Is(err, removal.ErrNotFound) {
			t.Fatalf("error %v", err)
		}
	})
}
