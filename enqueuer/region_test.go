package enqueuer_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redistest"
)

// regionClient is a client of a fleet whose default region is cn-north-4
// and that serves cn-north-4 and eu-west-101.
func regionClient(tb testing.TB) *enqueuer.Client {
	tb.Helper()
	rdb := redistest.Start(tb, redistest.Options{}).Client(tb)
	c := enqueuer.New(rdb, enqueuer.Options{DefaultRegion: "cn-north-4", Regions: []string{"cn-north-4", "eu-west-101"}})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func TestEnqueueFillsTheDefaultRegion(t *testing.T) {
	c := regionClient(t)
	st, err := c.Enqueue(t.Context(), enqueuer.Request{ID: "default", ProjectID: "p", ClusterID: "c", Nodes: []string{uid(1)}, SSHKey: "k"})
	if err != nil || st.Region != "cn-north-4" {
		t.Fatalf("no region given: region %q, %v; want the default cn-north-4", st.Region, err)
	}
	st, err = c.Enqueue(t.Context(), enqueuer.Request{ID: "eu", ProjectID: "p2", ClusterID: "c", Region: "eu-west-101", Nodes: []string{uid(2)}, SSHKey: "k"})
	if err != nil || st.Region != "eu-west-101" {
		t.Fatalf("eu-west-101: region %q, %v", st.Region, err)
	}
	if got, err := c.Status(t.Context(), "eu"); err != nil || got.Region != "eu-west-101" {
		t.Fatalf("status of eu: %+v %v", got, err)
	}
	// Naming the default region is the same request as leaving it out.
	if st, err := c.Enqueue(t.Context(), enqueuer.Request{ID: "default", ProjectID: "p", ClusterID: "c", Region: "cn-north-4", Nodes: []string{uid(1)}, SSHKey: "k"}); err != nil || st.RequestID != "default" {
		t.Fatalf("the same request with its region named: %+v %v", st, err)
	}
}

func TestEnqueueRefusesARegionNotServed(t *testing.T) {
	c := regionClient(t)
	for _, tc := range []struct{ region, want string }{
		{"ap-southeast-1", `"ap-southeast-1" is not a region this fleet serves (served: cn-north-4, eu-west-101`},
		{"North 4", "not a region name"},
	} {
		_, err := c.Enqueue(t.Context(), enqueuer.Request{ProjectID: "p", ClusterID: "c", Region: tc.region, Nodes: []string{uid(3)}, SSHKey: "k"})
		var inv *enqueuer.InvalidError
		if !errors.Is(err, enqueuer.ErrInvalid) || !errors.As(err, &inv) || inv.Field != "region" || !strings.Contains(inv.Problem, tc.want) {
			t.Errorf("region %q: %v; want an invalid region saying %q", tc.region, err, tc.want)
		}
		if _, err := c.Preflight(t.Context(), enqueuer.Request{ProjectID: "p", ClusterID: "c", Region: tc.region, Nodes: []string{uid(3)}, SSHKey: "k"}); !errors.Is(err, enqueuer.ErrInvalid) {
			t.Errorf("dry run of region %q: %v, want ErrInvalid", tc.region, err)
		}
	}
	if l, err := c.List(t.Context(), enqueuer.ListFilter{}); err != nil || len(l) != 0 {
		t.Errorf("something was stored: %v %v", l, err)
	}
}

func TestSameIDOtherRegionConflicts(t *testing.T) {
	c := regionClient(t)
	r := enqueuer.Request{ID: "moved", ProjectID: "p", ClusterID: "c", Nodes: []string{uid(4)}, SSHKey: "k"}
	if _, err := c.Enqueue(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	r.Region = "eu-west-101"
	if _, err := c.Enqueue(t.Context(), r); !errors.Is(err, enqueuer.ErrConflict) {
		t.Fatalf("same id, other region: %v, want ErrConflict", err)
	}
}

func TestDecodeRegion(t *testing.T) {
	r, err := enqueuer.DecodeRequest([]byte(`{"project_id":"p","cluster_id":"c","region":"eu-west-101","nodes":[]}`))
	if err != nil || r.Region != "eu-west-101" {
		t.Fatalf("decoded %+v %v", r, err)
	}
	_, err = enqueuer.DecodeRequest([]byte(`{"project_id":"p","cluster_id":"c","region":"","nodes":[]}`))
	var inv *enqueuer.InvalidError
	if !errors.As(err, &inv) || inv.Field != "region" {
		t.Fatalf(`region "": %v, want an error naming region`, err)
	}
}
