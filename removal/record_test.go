package removal

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSettle(t *testing.T) {
	now := time.Now()
	rec := NewRecord(Request{ID: "r", ProjectID: "p", ClusterID: "c", Nodes: []string{"a", "b", "c", "d", "e"}}, now)
	if rec.Settle(now) {
		t.Fatal("settled with open nodes")
	}
	for _, n := range []string{"a", "b"} {
		rec.SetNode(n, NodeRemoved, "")
	}
	rec.SetNode("c", NodeFailed, "disk")
	rec.SetNode("d", NodeFailed, "net")
	rec.SetNode("e", NodeFailed, "cpu")
	rec.SetNode("zzz", NodeFailed, "ignored")
	if !rec.Settle(now) || rec.State != StateFailed || rec.FinishedAt == nil {
		t.Fatalf("state %s", rec.State)
	}
	if !strings.HasPrefix(rec.Error, "3 of 5 nodes not removed: c: disk; d: net; e: cpu") {
		t.Errorf("error %q", rec.Error)
	}

	all := NewRecord(Request{ID: "r", Nodes: []string{"a", "b"}}, now)
	all.SetNode("a", NodeFailed, "CCE.01400001: bad")
	all.SetNode("b", NodeFailed, "CCE.01400001: bad")
	all.Settle(now)
	if all.Error != "CCE.01400001: bad" {
		t.Errorf("shared reason: %q", all.Error)
	}

	ok := NewRecord(Request{ID: "r", Nodes: []string{"a"}}, now)
	ok.SetNode("a", NodeRemoved, "")
	if !ok.Settle(now) || ok.State != StateSucceeded || ok.Error != "" {
		t.Errorf("state %s error %q", ok.State, ok.Error)
	}
}

func TestFailureSummaryNamesAFew(t *testing.T) {
	var failed []Node
	for _, uid := range []string{"a", "b", "c", "d", "e"} {
		failed = append(failed, Node{UID: uid, State: NodeFailed, Reason: "r-" + uid})
	}
	if got := failureSummary(failed, 9); got != "5 of 9 nodes not removed: a: r-a; b: r-b; c: r-c; and 2 more" {
		t.Errorf("%q", got)
	}
}

func TestStatusLeavesLoginOut(t *testing.T) {
	rec := NewRecord(Request{ID: "r", Nodes: []string{"a"}, Login: Login{Username: "root", PasswordHash: "SECRET"}}, time.Now())
	st := rec.Status()
	if strings.Contains(strings.ToLower(fmtAny(st)), "secret") {
		t.Error("status shows the password hash")
	}
	st.Nodes[0].State = NodeFailed
	if rec.Nodes[0].State != NodePending {
		t.Error("status shares the record's node slice")
	}
}

// TestSameLooksAtEveryField: a field added to Record must be compared by
// same, or a step that changes only it would not count as a change.
func TestSameLooksAtEveryField(t *testing.T) {
	if n := reflect.TypeFor[Record]().NumField(); n != 25 {
		t.Fatalf("Record has %d fields; same (and Clone) know 25: add the new one to both, then this count", n)
	}
	now := time.Now()
	base := NewRecord(Request{ID: "r", ProjectID: "p", ClusterID: "c", Nodes: []string{"a"}, Login: Login{SSHKey: "k"}}, now)
	changes := []func(r *Record){
		func(r *Record) { r.State = StateFailed },
		func(r *Record) { r.JobID = "j" },
		func(r *Record) { r.Region = "eu-west-101" },
		func(r *Record) { r.Nodes[0].Reason = "x" },
		func(r *Record) { r.Attempts++ },
		func(r *Record) { r.Error = "e" },
		func(r *Record) { r.UpdatedAt = now.Add(time.Second) },
		func(r *Record) { r.Login.SSHKey = "other" },
		func(r *Record) { r.BatchID = "b" },
		func(r *Record) { r.Solo = true },
		func(r *Record) { r.SubmittingAt = &now },
		func(r *Record) { r.SubmittedAt = &now },
		func(r *Record) { r.FinishedAt = &now },
		func(r *Record) { r.Drain = &Drain{Timeout: Duration(time.Minute), OnTimeout: OnTimeoutFail} },
		func(r *Record) { r.DrainStartedAt = &now },
		func(r *Record) { r.DrainMovedAt = &now },
		func(r *Record) { r.Waiting = "paused" },
		func(r *Record) { r.Kube = map[string]string{"a": "192.168.0.1"} },
		func(r *Record) { r.Uncordon = []string{"192.168.0.1"} },
		func(r *Record) { r.Nodes[0].Drain = &NodeDrain{PodsLeft: 1} },
		func(r *Record) { r.Callback = &Callback{URL: "https://h/x", Events: CallbackAll} },
	}
	for i, change := range changes {
		c := base.Clone()
		change(c)
		if c.same(base) {
			t.Errorf("change %d went unseen", i)
		}
		if !base.Clone().same(base) {
			t.Fatal("a clone differs")
		}
	}
}
