package redistest_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/internal/redistest"
)

func TestStartCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	target, err := config.ParseRedisURL(c.URL)
	if err != nil || target.Mode != "cluster" || len(target.Addrs) != 3 {
		t.Fatalf("ParseRedisURL(%q) = %+v, %v", c.URL, target, err)
	}
	rdb := c.Client(t)
	ctx := t.Context()
	// Keys in many slots land on every master.
	for i := range 30 {
		if err := rdb.Set(ctx, fmt.Sprintf("key-%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var masters atomic.Int32 // ForEachMaster calls fn concurrently
	err = rdb.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		if n > 0 {
			masters.Add(1)
		}
		return err
	})
	if err != nil || masters.Load() != 3 {
		t.Fatalf("keys on %d masters (%v), want 3", masters.Load(), err)
	}

	// Slot 3100 starts on the first master; moved, the last one serves it.
	c.MoveSlotOf(t, "{noderemover}:x", 2)
	if err := rdb.Set(ctx, "{noderemover}:x", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	last := redis.NewClient(&redis.Options{Addr: c.Addrs[2]})
	defer last.Close()
	if v, err := last.Get(ctx, "{noderemover}:x").Result(); err != nil || v != "v" {
		t.Fatalf("GET on the master the slot moved to: %q, %v", v, err)
	}
}

func TestStartSentinel(t *testing.T) {
	s := redistest.StartSentinel(t)
	target, err := config.ParseRedisURL(s.URL)
	if err != nil || target.Mode != "sentinel" || target.MasterName != s.MasterName || target.Addrs[0] != s.Addr {
		t.Fatalf("ParseRedisURL(%q) = %+v, %v", s.URL, target, err)
	}
	ctx := t.Context()
	if err := s.Client(t).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	direct := redis.NewClient(&redis.Options{Addr: s.MasterAddr})
	defer direct.Close()
	if v, err := direct.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("master has k = %q, %v; want the value written through the sentinel", v, err)
	}
}
