package store_test

import (
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/store"
)

// The demo runs on miniredis: the marker's script and GETDEL work there too.
func TestMarkerOnMiniredis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Miniredis: true})
	rdb := srv.Client(t)
	s := store.New(rdb, store.Options{TTL: time.Hour})
	m, _, err := s.EnsureMarker(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.NoticeLoss(t.Context(), *m); err != nil || !n.First {
		t.Fatalf("notice: %+v %v", n, err)
	}
	if l, err := s.AcknowledgeDataLoss(t.Context()); err != nil || l == nil {
		t.Fatalf("ack: %+v %v", l, err)
	}
}
