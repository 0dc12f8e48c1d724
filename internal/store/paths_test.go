package store_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/internal/redistest"
	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/internal/testkit"
	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/removal/removaltest"
)

// TestBothPathsLeaveTheSameKeys runs every case of the lifecycle table down
// both ways a step is written: from what this process last wrote (no read)
// and from a fresh read (another process's store). Both carry out one plan;
// this checks that they leave Redis the same, key by key, value by value,
// expiry by expiry.
func TestBothPathsLeaveTheSameKeys(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{}).Client(t)
	ctx := t.Context()
	clock := testkit.NewClock(time.Time{})
	for _, c := range removaltest.Cases(clock.Now().Add(time.Minute)) {
		t.Run(c.Name, func(t *testing.T) {
			var dumps [2]map[string]string
			for path := range 2 {
				if err := rdb.FlushDB(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				s := store.New(rdb, store.Options{TTL: time.Hour, Now: clock.Now})
				b := setUp(t, s, c, clock.Now())
				writer := s // path 0: the store that wrote the batch, from what it remembers
				if path == 1 {
					writer = store.New(rdb, store.Options{TTL: time.Hour, Now: clock.Now}) // path 1: a fresh read
				}
				res, err := writer.Step(ctx, b, c.Event, c.Input)
				if err != nil {
					t.Fatalf("path %d: %v", path, err)
				}
				if keeps := []string{"Send", "OutcomeUnknown", "ReconciledNotSent", "Polled"}; len(res.Changes) == 0 && !slices.Contains(keeps, c.Name) {
					t.Errorf("path %d: no request changed", path)
				}
				dumps[path] = dump(t, rdb)
			}
			if a, b := dumps[0], dumps[1]; !equalDumps(a, b) {
				t.Errorf("the paths differ:\nfrom memory: %s\nfrom a read: %s", show(a), show(b))
			}
		})
	}
}

// setUp creates case c's requests and brings their batch to c.From through
// the store, as a worker would.
func setUp(tb testing.TB, s *store.Store, c removaltest.Case, now time.Time) *removal.Batch {
	tb.Helper()
	ctx := tb.Context()
	for _, req := range c.Requests() {
		if _, _, err := s.Create(ctx, req); err != nil {
			tb.Fatal(err)
		}
	}
	_, f, err := s.BeginForming(ctx, "request-0", removaltest.Project, removaltest.Cluster, time.Minute, false)
	if err != nil || f == nil {
		tb.Fatalf("begin forming: %v", err)
	}
	pick := removal.PickMembers(f.IDs, f.Records, removal.FormOptions{Merge: true}, now)
	b, changes := removal.NewBatch("batch-1", removaltest.Project, removaltest.Cluster, pick, now)
	if err := s.Form(ctx, f, b, changes, pick.Stale, time.Minute); err != nil {
		tb.Fatal(err)
	}
	for _, st := range removaltest.Steps(c.From, now) {
		res, err := s.Step(ctx, b, st.Event, st.Input)
		if err != nil {
			tb.Fatal(err)
		}
		b = res.Batch
	}
	return b
}

// dump is every key: its type, value and whether it expires (within a
// second, so two runs a moment apart compare equal).
func dump(tb testing.TB, rdb *redis.Client) map[string]string {
	tb.Helper()
	ctx := tb.Context()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		typ, _ := rdb.Type(ctx, k).Result()
		var val string
		switch typ {
		case "string":
			val, _ = rdb.Get(ctx, k).Result()
		case "zset":
			zs, _ := rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
			val = fmt.Sprint(zs)
		case "list":
			l, _ := rdb.LRange(ctx, k, 0, -1).Result()
			val = fmt.Sprint(l)
		default:
			val = "(" + typ + ")"
		}
		ttl, _ := rdb.PTTL(ctx, k).Result()
		out[k] = fmt.Sprintf("%s %s ttl=%v", typ, val, ttl.Round(10*time.Second))
	}
	return out
}

func equalDumps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func show(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %s = %s", k, d[k])
	}
	return b.String()
}
