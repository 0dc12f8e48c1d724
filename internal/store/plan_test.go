package store

import (
	"errors"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/redistest"
)

// TestPlanWritesAllOrNothing: a plan whose checks hold makes every write;
// one whose check fails makes none.
func TestPlanWritesAllOrNothing(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	ctx := t.Context()
	if err := rdb.Set(ctx, "{noderemover}:a", "old", 0).Err(); err != nil {
		t.Fatal(err)
	}
	stale := newPlan()
	stale.holds("{noderemover}:a", "something else")
	stale.set("{noderemover}:b", "written", time.Minute)
	if _, err := stale.run(ctx, rdb); !errors.Is(err, errStalePlan) {
		t.Fatalf("a plan whose check fails: %v, want errStalePlan", err)
	}
	if n, _ := rdb.Exists(ctx, "{noderemover}:b").Result(); n != 0 {
		t.Fatal("a stale plan wrote")
	}
	missing := newPlan()
	missing.holds("{noderemover}:a", "") // expects it missing
	missing.set("{noderemover}:b", "written", time.Minute)
	if _, err := missing.run(ctx, rdb); !errors.Is(err, errStalePlan) {
		t.Fatalf("a plan expecting a present key missing: %v", err)
	}

	p := newPlan()
	p.holds("{noderemover}:a", "old")
	p.holds("{noderemover}:none", "")
	p.set("{noderemover}:b", "written", time.Minute)
	p.delIf("{noderemover}:a", "not the owner")
	p.zadd("{noderemover}:z", 2, "two")
	p.zadd("{noderemover}:z", 1, "one")
	p.zadd("{noderemover}:z", 3, "three")
	p.zrem("{noderemover}:z", "three")
	p.zremBelow("{noderemover}:z", 2)
	p.lpushCapped("{noderemover}:l", "x", 2, time.Minute)
	p.lpushCapped("{noderemover}:l", "y", 2, time.Minute)
	p.lpushCapped("{noderemover}:l", "z", 2, time.Minute)
	p.first("{noderemover}:z")
	first, err := p.run(ctx, rdb)
	if err != nil || first != "two" {
		t.Fatalf("run: %q, %v; want the first of the set, two", first, err)
	}
	if v, _ := rdb.Get(ctx, "{noderemover}:b").Result(); v != "written" {
		t.Errorf("b = %q", v)
	}
	if ttl, _ := rdb.PTTL(ctx, "{noderemover}:b").Result(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("b lives %v, want up to a minute", ttl)
	}
	if v, _ := rdb.Get(ctx, "{noderemover}:a").Result(); v != "old" {
		t.Errorf("delif of another owner deleted a: %q", v)
	}
	if l, _ := rdb.LRange(ctx, "{noderemover}:l", 0, -1).Result(); len(l) != 2 || l[0] != "z" || l[1] != "y" {
		t.Errorf("list %v, want the two newest", l)
	}
	if z, _ := rdb.ZRange(ctx, "{noderemover}:z", 0, -1).Result(); len(z) != 1 || z[0] != "two" {
		t.Errorf("set %v, want [two]", z)
	}
	del := newPlan()
	del.delIf("{noderemover}:a", "old")
	del.del("{noderemover}:b")
	if _, err := del.run(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, "{noderemover}:a", "{noderemover}:b").Result(); n != 0 {
		t.Errorf("%d keys left after deleting both", n)
	}
}

func TestPlanRefusesACheckAfterAWrite(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a check after a write was taken")
		}
	}()
	p := newPlan()
	p.set("k", "v", time.Minute)
	p.holds("k", "v")
}
