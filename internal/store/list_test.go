package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
)

func TestList(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	for i, c := range []string{"c1", "c2", "c1", "c1"} {
		r := request("r"+string(rune('0'+i)), 1)
		r.ClusterID = c
		r.Nodes = []string{nodes(5)[i]}
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Cancel(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
	ids := func(f removal.ListFilter) string {
		recs, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range recs {
			out = append(out, r.RequestID)
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		f    removal.ListFilter
		want string
	}{
		{removal.ListFilter{}, "r3,r2,r1,r0"},
		{removal.ListFilter{ClusterID: "c1"}, "r3,r2,r0"},
		{removal.ListFilter{State: removal.StateQueued, ClusterID: "c1"}, "r3,r0"},
		{removal.ListFilter{State: removal.StateCancelled}, "r2"},
		{removal.ListFilter{Limit: 2}, "r3,r2"},
	}
	for _, tc := range cases {
		if got := ids(tc.f); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.f, got, tc.want)
		}
	}
}

// Pages with Before cover every request once, in the list's order, also
// when many were created in the same millisecond; CreatedAfter cuts the
// tail; a cursor that is not listed is an error naming before.
func TestListPages(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := at
	s := store.New(srv.Client(t), store.Options{TTL: time.Hour, Now: func() time.Time { return clock }})
	var want []string
	for i := range 23 {
		clock = at.Add(time.Duration(i/5) * time.Second) // five at each instant
		r := request(fmt.Sprintf("r%02d", i), 1)
		r.Nodes = []string{fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for i := 22; i >= 0; i-- {
		want = append(want, fmt.Sprintf("r%02d", i))
	}
	for _, size := range []int{1, 3, 5, 7, 23, 50} {
		var got []string
		before := ""
		for range 30 {
			recs, err := s.List(ctx, removal.ListFilter{Limit: size, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				got = append(got, r.RequestID)
			}
			before = recs[len(recs)-1].RequestID
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("pages of %d: %v, want %v", size, got, want)
		}
	}
	recs, err := s.List(ctx, removal.ListFilter{Limit: 50, CreatedAfter: at.Add(3 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 8 || recs[0].RequestID != "r22" || recs[7].RequestID != "r15" {
		t.Errorf("created after 3s: %d requests, first %s", len(recs), recs[0].RequestID)
	}
	if _, err := s.List(ctx, removal.ListFilter{Before: "gone"}); !errors.Is(err, removal.ErrInvalid) || !strings.Contains(err.Error(), "before") {
		t.Errorf("an unlisted cursor: %v", err)
	}
}
