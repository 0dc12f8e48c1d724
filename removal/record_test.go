package removal

import (
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
