package enqueuer_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/removal"
)

// With Redis down every call fails fast with ErrUnavailable, saying what was
// left behind; when it is back, the same request enqueues once.
func TestRedisDownIsErrUnavailable(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true}) // what was written survives the restart
	if srv.Kind != redistest.KindServer {
		t.Skip("needs a private redis-server to stop")
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, DialTimeout: 200 * time.Millisecond, MaxRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	c := enqueuer.New(rdb, enqueuer.Options{})
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()
	r := enqueuer.Request{ID: "during-outage", ProjectID: "0123456789abcdef0123456789abcdef", ClusterID: "c1",
		Nodes: []string{uid(1)}, SSHKey: "k"}

	srv.Stop(t)
	_, err := c.Enqueue(ctx, r)
	if !errors.Is(err, enqueuer.ErrUnavailable) || !strings.Contains(err.Error(), "nothing was stored") {
		t.Errorf("Enqueue: %v; want ErrUnavailable saying nothing was stored", err)
	}
	if _, err := c.Status(ctx, r.ID); !errors.Is(err, enqueuer.ErrUnavailable) {
		t.Errorf("Status: %v; want ErrUnavailable", err)
	}
	if _, err := c.List(ctx, enqueuer.ListFilter{}); !errors.Is(err, enqueuer.ErrUnavailable) {
		t.Errorf("List: %v; want ErrUnavailable", err)
	}
	if _, err := c.Cancel(ctx, r.ID); !errors.Is(err, enqueuer.ErrUnavailable) {
		t.Errorf("Cancel: %v; want ErrUnavailable", err)
	}
	// Input errors are still input errors, whatever Redis does.
	if _, err := c.Enqueue(ctx, enqueuer.Request{ID: "bad"}); !errors.Is(err, enqueuer.ErrInvalid) || errors.Is(err, enqueuer.ErrUnavailable) {
		t.Errorf("Enqueue of an invalid request: %v; want ErrInvalid only", err)
	}

	srv.Restart(t)
	if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("after the outage Redis holds %d keys (%v); want nothing half-written", n, err)
	}
	st, err := c.Enqueue(ctx, r)
	if err != nil || st.State != removal.StateQueued {
		t.Fatalf("after the outage: %+v, %v", st, err)
	}
}

// TestOnlyRedisFailingIsErrUnavailable: a record that is not JSON is an
// error of its own, not Redis being away; List leaves it out and reports
// it.
func TestOnlyRedisFailingIsErrUnavailable(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	var reported []string
	c := enqueuer.New(rdb, enqueuer.Options{Corrupt: func(key string, _ error) { reported = append(reported, key) }})
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()
	for i, id := range []string{"good", "broken"} {
		if _, err := c.Enqueue(ctx, enqueuer.Request{ID: id, ProjectID: "0123456789abcdef0123456789abcdef", ClusterID: "c1",
			Nodes: []string{uid(i + 1)}, SSHKey: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Set(ctx, "{noderemover}:request:broken", "{not json", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Status(ctx, "broken")
	if err == nil || errors.Is(err, enqueuer.ErrUnavailable) || !strings.Contains(err.Error(), "{noderemover}:request:broken") {
		t.Errorf("Status of a corrupt record: %v; want an error naming the key, not ErrUnavailable", err)
	}
	sts, err := c.List(ctx, enqueuer.ListFilter{})
	if err != nil || len(sts) != 1 || sts[0].RequestID != "good" {
		t.Errorf("List: %+v, %v; want the good request alone", sts, err)
	}
	if len(reported) != 1 || reported[0] != "{noderemover}:request:broken" {
		t.Errorf("reported %v, want the corrupt key", reported)
	}
}
