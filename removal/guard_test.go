package removal

import (
	"strings"
	"testing"
	"time"
)

// cluster of n live nodes n0..n(n-1).
func liveNodes(n int) ClusterNodes {
	c := ClusterNodes{Total: n, Live: map[string]bool{}}
	for i := range n {
		c.Live[nodeName(i)] = true
	}
	return c
}

func nodeName(i int) string { return "n" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }

func names(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, nodeName(i))
	}
	return out
}

func TestAdmissionBudget(t *testing.T) {
	a := &Admission{ClusterID: "c", Guard: Guard{MaxDisrupting: Budget{N: 10, Percent: true}, MinNodes: 1},
		Nodes: liveNodes(30), Use: Disruption{Admitted: map[string][]string{"old": names(0, 1)}}}
	// 10% of 30 is 3: one is in use, two more fit, then no more.
	if v := a.Decide("old", names(0, 1)); !v.Go || !v.Before {
		t.Errorf("admitted before: %+v", v)
	}
	if v := a.Decide("r1", names(1, 3)); !v.Go || v.Before {
		t.Fatalf("r1 (2 nodes, room for 2): %+v", v)
	}
	v := a.Decide("r2", names(3, 4))
	if v.Go || !strings.Contains(v.Wait, "over budget: 3 nodes") || !strings.Contains(v.Wait, "3 allowed at once (max_disrupting 10% of 30 nodes)") {
		t.Errorf("r2 over budget: %+v", v)
	}
	if got := a.Added(); len(got) != 1 || len(got["r1"]) != 2 {
		t.Errorf("added %v; want r1 alone", got)
	}
	// A request larger than the budget waits, saying how to let it go.
	big := &Admission{ClusterID: "c", Guard: Guard{MaxDisrupting: Budget{N: 2}}, Nodes: liveNodes(30)}
	if v := big.Decide("big", names(0, 3)); v.Go || !strings.Contains(v.Wait, "--max-disrupting") || !strings.Contains(v.Wait, "split") {
		t.Errorf("larger than the budget: %+v", v)
	}
	// 0 denies everything; a percentage rounds up and allows at least one.
	zero := &Admission{ClusterID: "c", Guard: Guard{MaxDisrupting: Budget{N: 0}}, Nodes: liveNodes(30)}
	if v := zero.Decide("r", names(0, 1)); v.Go || !strings.Contains(v.Wait, "max_disrupting of cluster c is 0") {
		t.Errorf("budget 0: %+v", v)
	}
	small := &Admission{ClusterID: "c", Guard: Guard{MaxDisrupting: Budget{N: 10, Percent: true}}, Nodes: liveNodes(3)}
	if v := small.Decide("r", names(0, 1)); !v.Go {
		t.Errorf("10%% of 3 nodes allows one: %+v", v)
	}
}

func TestAdmissionMinimum(t *testing.T) {
	g := Guard{MaxDisrupting: Budget{N: 100, Percent: true}, MinNodes: 3}
	nodes := liveNodes(5)
	// Alone, taking 3 of 5 leaves 2 < 3: refused at once, with the numbers.
	a := &Admission{ClusterID: "c", Guard: g, Nodes: nodes}
	v := a.Decide("r", names(0, 3))
	if v.Go || v.Refuse == "" || !strings.Contains(v.Refuse, "would leave 2 nodes in cluster c (5 now, 3 of them in this request); min_nodes is 3") {
		t.Errorf("under the minimum alone: %+v", v)
	}
	// Two of 5 alone is fine; with two others under way it waits instead.
	b := &Admission{ClusterID: "c", Guard: g, Nodes: nodes, Use: Disruption{Admitted: map[string][]string{"other": names(2, 4)}}}
	if v := b.Decide("r", names(0, 1)); v.Go || v.Refuse != "" || !strings.Contains(v.Wait, "would leave 2 nodes in cluster c while 2 others") {
		t.Errorf("under the minimum with others: %+v", v)
	}
	// Nodes being deleted already are not counted as left.
	nodes.Live = map[string]bool{nodeName(0): true, nodeName(1): true, nodeName(2): true, nodeName(3): true}
	c := &Admission{ClusterID: "c", Guard: g, Nodes: nodes}
	if v := c.Decide("r", names(0, 2)); v.Refuse == "" {
		t.Errorf("4 live, 2 asked, minimum 3: %+v", v)
	}
}

func TestWindowWait(t *testing.T) {
	w, err := ParseWindow("0 2 * * * 2h UTC")
	if err != nil {
		t.Fatal(err)
	}
	g := Guard{Windows: []Window{w}}
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	if why, _ := WindowWait(g, "c", at); why != "" {
		t.Errorf("inside the window: %q", why)
	}
	why, d := WindowWait(g, "c", at.Add(2*time.Hour))
	if !strings.Contains(why, "the next opens at 2026-12-02T02:00:00Z") || d != 21*time.Hour {
		t.Errorf("outside: %q, %v", why, d)
	}
	if why, _ := WindowWait(Guard{}, "c", at); why != "" {
		t.Errorf("no window is always open: %q", why)
	}
}

func TestFailNodes(t *testing.T) {
	now := time.Now()
	r := NewRecord(Request{ID: "r", ProjectID: "p", ClusterID: "c", Nodes: []string{"a", "b"}}, now)
	if !FailNodes(r, map[string]string{"a": "gone", "x": "not ours"}, now) || r.State != StateQueued || len(r.OpenNodes()) != 1 {
		t.Fatalf("one of two: %+v", r)
	}
	if FailNodes(r, map[string]string{"a": "again"}, now) {
		t.Error("a node failed already changed again")
	}
	if !FailNodes(r, map[string]string{"b": "gone"}, now) || r.State != StateFailed || r.Error != "gone" {
		t.Errorf("both: %+v", r)
	}
}
