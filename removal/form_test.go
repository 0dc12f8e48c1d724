package removal_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/noderemover/noderemover/removal"
)

// waiting makes queued records, created in order a second apart before
// now, of n nodes each, with the given logins.
func waiting(now time.Time, logins []removal.Login, nodes ...int) ([]string, map[string]*removal.Record) {
	var ids []string
	recs := map[string]*removal.Record{}
	next := 0
	for i, n := range nodes {
		uids := make([]string, n)
		for j := range uids {
			uids[j] = fmt.Sprintf("00000000-0000-4000-8000-%012d", next)
			next++
		}
		id := fmt.Sprintf("r%d", i)
		r := removal.NewRecord(removal.Request{ID: id, ProjectID: "p1", ClusterID: "c1", Nodes: uids, Login: logins[i%len(logins)]},
			now.Add(time.Duration(i-len(nodes))*time.Second))
		ids, recs[id] = append(ids, id), r
	}
	return ids, recs
}

var key, otherKey = removal.Login{SSHKey: "key"}, removal.Login{SSHKey: "other-key"}

// TestPickWaitsForTheWindowUnlessFull: a batch waits out the window after
// its oldest request, unless MaxNodes nodes of one login wait already; then
// it goes at once with those, and another login waits for the next batch.
func TestPickWaitsForTheWindowUnlessFull(t *testing.T) {
	now := time.Now()
	o := removal.FormOptions{Merge: true, Window: time.Hour}
	ids, recs := waiting(now, []removal.Login{key, otherKey}, 150, 60)
	if p := removal.PickMembers(ids, recs, o, now); p.Wait < 59*time.Minute || len(p.Members) != 0 {
		t.Fatalf("150 nodes waiting: %+v; want a wait of about the window, no members", p)
	}
	ids, recs = waiting(now, []removal.Login{key, otherKey, key}, 150, 60, 50)
	p := removal.PickMembers(ids, recs, o, now)
	if p.Wait != 0 || len(p.Members) != 2 || p.Members[0].RequestID != "r0" || p.Members[1].RequestID != "r2" {
		t.Fatalf("200 nodes of one login: %+v; want r0 and r2 at once", p)
	}
	if rec := recs["r1"]; rec.State != removal.StateQueued {
		t.Errorf("picking changed a record: r1 is %s", rec.State)
	}
	clock := now.Add(time.Hour) // the window has passed for the smaller set
	ids, recs = waiting(now, []removal.Login{key}, 10)
	if p := removal.PickMembers(ids, recs, o, clock); p.Wait != 0 || len(p.Members) != 1 {
		t.Errorf("after the window: %+v, want the batch", p)
	}
}

func TestPickWithoutMergeTakesTheOldestAlone(t *testing.T) {
	now := time.Now()
	ids, recs := waiting(now, []removal.Login{key}, 1, 1)
	p := removal.PickMembers(ids, recs, removal.FormOptions{Window: time.Hour}, now)
	if p.Wait != 0 || len(p.Members) != 1 || p.Members[0].RequestID != "r0" {
		t.Fatalf("%+v; want the oldest request alone, at once", p)
	}
}

func TestPickLeavesOutStaleAndFailsOutOfAttempts(t *testing.T) {
	now := time.Now()
	ids, recs := waiting(now, []removal.Login{key}, 1, 1, 1, 1)
	recs["r0"].State = removal.StateSubmitting // taken by another batch since
	delete(recs, "r1")                         // expired
	recs["r2"].Attempts = 3
	p := removal.PickMembers(ids, recs, removal.FormOptions{MaxAttempts: 3}, now)
	if len(p.Stale) != 2 || len(p.OutOfAttempts) != 1 || p.OutOfAttempts[0].RequestID != "r2" ||
		len(p.Members) != 1 || p.Members[0].RequestID != "r3" {
		t.Fatalf("%+v", p)
	}
	b, changes := removal.NewBatch("b1", "p1", "c1", p, now)
	if len(changes) != 2 || recs["r2"].State != removal.StateFailed || recs["r3"].State != removal.StateSubmitting || recs["r3"].BatchID != b.ID {
		t.Fatalf("changes %+v, r2 %s, r3 %s", changes, recs["r2"].State, recs["r3"].State)
	}
}

func TestSoloRequestsGoAlone(t *testing.T) {
	now := time.Now()
	ids, recs := waiting(now, []removal.Login{key}, 1, 1)
	recs["r1"].Solo = true
	p := removal.PickMembers(ids, recs, removal.FormOptions{Merge: true}, now)
	if len(p.Members) != 1 || p.Members[0].RequestID != "r0" {
		t.Fatalf("%+v; want r0 without the solo request", p)
	}
}

// TestPickKeepsARegionTogether: a waiting request of another region than
// the oldest one's goes to a later batch, as another login would; the batch
// carries its members' region.
func TestPickKeepsARegionTogether(t *testing.T) {
	now := time.Now()
	ids, recs := waiting(now, []removal.Login{key}, 1, 1, 1)
	recs["r0"].Region, recs["r1"].Region, recs["r2"].Region = "cn-north-4", "eu-west-101", "cn-north-4"
	p := removal.PickMembers(ids, recs, removal.FormOptions{Merge: true}, now)
	if len(p.Members) != 2 || p.Members[0].RequestID != "r0" || p.Members[1].RequestID != "r2" {
		t.Fatalf("members %+v, want r0 and r2 (cn-north-4); r1 of eu-west-101 waits", p.Members)
	}
	b, _ := removal.NewBatch("b1", "p1", "c1", p, now)
	if b.Region != "cn-north-4" {
		t.Errorf("batch region %q, want cn-north-4", b.Region)
	}
}
