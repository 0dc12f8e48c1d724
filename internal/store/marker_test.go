package store_test

import (
	"testing"
)

func TestMarkerAndLoss(t *testing.T) {
	s, srv := newStore(t)
	ctx := t.Context()
	m, created, err := s.EnsureMarker(ctx)
	if err != nil || !created || m.ID == "" || m.Since.IsZero() {
		t.Fatalf("first EnsureMarker: %+v %v %v", m, created, err)
	}
	again, created, err := s.EnsureMarker(ctx)
	if err != nil || created || again.ID != m.ID {
		t.Fatalf("second EnsureMarker: %+v %v %v; want %s kept", again, created, err, m.ID)
	}
	if n, err := s.NoticeLoss(ctx, *m); err != nil || !n.Intact || n.Marker.ID != m.ID {
		t.Fatalf("NoticeLoss with the marker there: %+v %v", n, err)
	}
	if l, err := s.DataLoss(ctx); err != nil || l != nil {
		t.Fatalf("DataLoss before any loss: %+v %v", l, err)
	}

	rdb := srv.Client(t)
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	first, err := s.NoticeLoss(ctx, *m)
	if err != nil || first.Intact || !first.First || first.Marker.ID == m.ID || first.Marker.Replaces != m.ID || first.Loss == nil {
		t.Fatalf("the first to notice: %+v %v", first, err)
	}
	if !first.Loss.DataSince.Equal(m.Since) || first.Loss.NoticedAt.Before(m.Since) {
		t.Errorf("loss %+v, marker since %v", first.Loss, m.Since)
	}
	// A second worker that saw the same marker finds the loss written.
	second, err := s.NoticeLoss(ctx, *m)
	if err != nil || second.First || second.Intact || second.Marker.ID != first.Marker.ID || second.Loss == nil {
		t.Fatalf("the second to notice: %+v %v", second, err)
	}
	l, err := s.AcknowledgeDataLoss(ctx)
	if err != nil || l == nil || !l.NoticedAt.Equal(first.Loss.NoticedAt) {
		t.Fatalf("acknowledge: %+v %v", l, err)
	}
	if l, err := s.DataLoss(ctx); err != nil || l != nil {
		t.Fatalf("DataLoss after the acknowledgement: %+v %v", l, err)
	}
	if l, err := s.AcknowledgeDataLoss(ctx); err != nil || l != nil {
		t.Fatalf("acknowledge again: %+v %v", l, err)
	}
	// A late worker noticing the same loss does not raise it again.
	if late, err := s.NoticeLoss(ctx, *m); err != nil || late.First || late.Loss != nil {
		t.Fatalf("a late notice after the acknowledgement: %+v %v", late, err)
	}

	// Redis emptied, and a worker started on it wrote a fresh marker before
	// a running one looked: still a loss, and the fresh marker is kept.
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	fresh, created, err := s.EnsureMarker(ctx)
	if err != nil || !created {
		t.Fatalf("EnsureMarker on the empty Redis: %+v %v %v", fresh, created, err)
	}
	n, err := s.NoticeLoss(ctx, first.Marker)
	if err != nil || !n.First || n.Marker.ID != fresh.ID || n.Loss == nil {
		t.Fatalf("a loss behind a fresh marker: %+v %v", n, err)
	}
	if cur, err := s.Marker(ctx); err != nil || cur.ID != fresh.ID {
		t.Fatalf("marker %+v %v; want %s", cur, err, fresh.ID)
	}
}
