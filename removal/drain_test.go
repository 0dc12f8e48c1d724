package removal

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestResolveDrain(t *testing.T) {
	fleet := DrainDefaults{Access: KubeAccessCCE, Enabled: true}
	d, err := fleet.Resolve(nil)
	if err != nil || d == nil || time.Duration(d.Timeout) != DefaultDrainTimeout || d.OnTimeout != OnTimeoutFail || d.GracePeriod != nil {
		t.Fatalf("defaults: %+v, %v", d, err)
	}
	d, err = fleet.Resolve(&DrainAsk{Timeout: ptr(Duration(time.Minute)), OnTimeout: ptr(OnTimeoutRemove),
		GracePeriod: ptr(Duration(5 * time.Second)), Force: ptr(true)})
	if err != nil || time.Duration(d.Timeout) != time.Minute || d.OnTimeout != OnTimeoutRemove || !d.Force ||
		time.Duration(*d.GracePeriod) != 5*time.Second || d.DeleteEmptyDirData {
		t.Fatalf("asked: %+v, %v", d, err)
	}
	if d, err := fleet.Resolve(&DrainAsk{Enabled: ptr(false)}); d != nil || err != nil {
		t.Errorf("drain off: %+v, %v", d, err)
	}
	none := DrainDefaults{Access: KubeAccessNone, Enabled: true}
	if d, err := none.Resolve(nil); d != nil || err != nil {
		t.Errorf("no access, not asked: %+v, %v", d, err)
	}
	_, err = none.Resolve(&DrainAsk{Enabled: ptr(true)})
	var inv *InvalidError
	if !errors.As(err, &inv) || inv.Field != "drain.enabled" || !strings.Contains(err.Error(), "KUBE_ACCESS") {
		t.Errorf("asked without access: %v", err)
	}
	for field, ask := range map[string]*DrainAsk{
		"drain.timeout":      {Timeout: ptr(Duration(0))},
		"drain.on_timeout":   {OnTimeout: ptr("later")},
		"drain.grace_period": {GracePeriod: ptr(Duration(time.Hour))},
	} {
		if _, err := fleet.Resolve(ask); !errors.As(err, &inv) || inv.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
	if err := (DrainDefaults{Enabled: true}).Check(); err == nil || !strings.Contains(err.Error(), "KUBE_ACCESS") {
		t.Errorf("DRAIN=on without access: %v", err)
	}
}

func drainingRecord(t *testing.T, onTimeout string, uids ...string) *Record {
	t.Helper()
	d := &Drain{Timeout: Duration(time.Minute), OnTimeout: onTimeout}
	r := NewRecord(Request{ID: "r", ProjectID: "p", ClusterID: "c", Nodes: uids, Login: Login{SSHKey: "k"}, Drain: d}, t0)
	if !r.NeedsDrain() {
		t.Fatal("a new request that drains does not need a drain")
	}
	return r
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestDrainStepToQueued(t *testing.T) {
	r := drainingRecord(t, OnTimeoutFail, "a", "b")
	ch, err := DrainStep(r, map[string]NodeDrainResult{
		"a": {Kube: "10.0.0.1", Progress: NodeDrain{PodsLeft: 2, BlockedBy: []string{"ns/p: PodDisruptionBudget ns/web"}}},
		"b": {Failed: "no Kubernetes Node named n or with InternalIP 10.0.0.2"},
	}, t0)
	if err != nil || ch == nil || ch.From != StateQueued || r.State != StateDraining {
		t.Fatalf("start: %+v %v, state %s", ch, err, r.State)
	}
	if r.Nodes[0].State != NodeDraining || r.Nodes[0].Drain.PodsLeft != 2 || r.Nodes[1].State != NodeFailed {
		t.Fatalf("nodes %+v", r.Nodes)
	}
	if len(r.Uncordon) != 0 {
		t.Errorf("a node never found is to be uncordoned: %v", r.Uncordon)
	}
	ch, err = DrainStep(r, map[string]NodeDrainResult{"a": {Done: true}}, t0.Add(10*time.Second))
	if err != nil || ch == nil || r.State != StateQueued || r.Nodes[0].State != NodeDrained || r.NeedsDrain() {
		t.Fatalf("done: %+v %v, state %s nodes %+v", ch, err, r.State, r.Nodes)
	}
	if _, err := DrainStep(r, nil, t0); !errors.Is(err, ErrStale) {
		t.Errorf("a drained request drained again: %v", err)
	}
	// A batch that dissolves gives its nodes back drained, not pending.
	b, _ := NewBatch("b1", "p", "c", Pick{Members: []*Record{r}}, t0)
	b.dissolve(map[string]*Record{"r": r}, "throttled")
	if r.Nodes[0].State != NodeDrained || r.NeedsDrain() {
		t.Errorf("after a dissolved batch: %+v", r.Nodes[0])
	}
}

func TestDrainTimeoutFailUncordons(t *testing.T) {
	r := drainingRecord(t, OnTimeoutFail, "a")
	blocked := NodeDrain{PodsLeft: 1, BlockedBy: []string{"shop/web-1: PodDisruptionBudget shop/web allows no disruption now"}}
	if _, err := DrainStep(r, map[string]NodeDrainResult{"a": {Kube: "n1", Progress: blocked}}, t0); err != nil {
		t.Fatal(err)
	}
	ch, err := DrainStep(r, map[string]NodeDrainResult{"a": {Progress: blocked}}, t0.Add(time.Minute))
	if err != nil || ch == nil || r.State != StateFailed {
		t.Fatalf("%+v %v %s", ch, err, r.State)
	}
	if !strings.Contains(r.Nodes[0].Reason, "PodDisruptionBudget shop/web") || !strings.Contains(r.Nodes[0].Reason, "timed out") {
		t.Errorf("reason %q", r.Nodes[0].Reason)
	}
	if len(r.Uncordon) != 1 || r.Uncordon[0] != "n1" {
		t.Errorf("uncordon %v", r.Uncordon)
	}
	if !Uncordoned(r, []string{"n1"}, t0) || r.Uncordon != nil {
		t.Errorf("uncordoned: %v", r.Uncordon)
	}
}

func TestDrainTimeoutRemoveGoesOn(t *testing.T) {
	r := drainingRecord(t, OnTimeoutRemove, "a")
	blocked := NodeDrain{PodsLeft: 3}
	if _, err := DrainStep(r, map[string]NodeDrainResult{"a": {Kube: "n1", Progress: blocked}}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := DrainStep(r, map[string]NodeDrainResult{"a": {Progress: blocked}}, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if r.State != StateQueued || r.Nodes[0].State != NodeDrained || !r.Nodes[0].Drain.TimedOut {
		t.Fatalf("state %s node %+v", r.State, r.Nodes[0])
	}
	r.SetNode("a", NodeRemoved, "")
	if !strings.Contains(r.Nodes[0].Reason, "with 3 Pods still on it") {
		t.Errorf("removed reason %q", r.Nodes[0].Reason)
	}
}

func TestCancelWhileDrainingUncordons(t *testing.T) {
	r := drainingRecord(t, OnTimeoutFail, "a")
	if _, err := DrainStep(r, map[string]NodeDrainResult{"a": {Kube: "n1", Progress: NodeDrain{PodsLeft: 1}}}, t0); err != nil {
		t.Fatal(err)
	}
	if ok, err := Cancel(r, nil, t0); !ok || err != nil {
		t.Fatalf("cancel: %v %v", ok, err)
	}
	if r.State != StateCancelled || len(r.Uncordon) != 1 {
		t.Errorf("state %s uncordon %v", r.State, r.Uncordon)
	}
}

func TestRefusedAfterDrainUncordons(t *testing.T) {
	r := drainingRecord(t, OnTimeoutFail, "a")
	if _, err := DrainStep(r, map[string]NodeDrainResult{"a": {Kube: "n1", Done: true}}, t0); err != nil {
		t.Fatal(err)
	}
	r.SetNode("a", NodeFailed, "CCE refused")
	if len(r.Uncordon) != 1 {
		t.Errorf("a node CCE refused is not uncordoned: %v", r.Uncordon)
	}
	r2 := drainingRecord(t, OnTimeoutFail, "a")
	if _, err := DrainStep(r2, map[string]NodeDrainResult{"a": {Kube: "n1", Done: true}}, t0); err != nil {
		t.Fatal(err)
	}
	r2.SetNode("a", NodeRemoving, "")
	r2.SetNode("a", NodeFailed, "job failed")
	if len(r2.Uncordon) != 0 {
		t.Errorf("a node CCE took is uncordoned: %v", r2.Uncordon)
	}
}

// TestFoundIsWrittenBeforeTheCordon: a Node found is recorded with its node
// still pending, so that a request cancelled before the cordon's own write
// still lists the Node (its mark decides whether it is uncordoned).
func TestFoundIsWrittenBeforeTheCordon(t *testing.T) {
	r := drainingRecord(t, OnTimeoutFail, "a")
	if _, err := DrainStep(r, map[string]NodeDrainResult{"a": {Kube: "n1", Found: true}}, t0); err != nil {
		t.Fatal(err)
	}
	if r.State != StateDraining || r.Nodes[0].State != NodePending || r.Kube["a"] != "n1" {
		t.Fatalf("state %s node %+v kube %v", r.State, r.Nodes[0], r.Kube)
	}
	if ok, err := Cancel(r, nil, t0); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if len(r.Uncordon) != 1 || r.Uncordon[0] != "n1" {
		t.Errorf("uncordon %v", r.Uncordon)
	}
}

// TestReconciledFailureKeepsTheCordon: a node that failed in the job CCE
// ran for a call whose answer was lost was taken by CCE: not uncordoned.
func TestReconciledFailureKeepsTheCordon(t *testing.T) {
	r := drainingRecord(t, OnTimeoutFail, "a", "b")
	if _, err := DrainStep(r, map[string]NodeDrainResult{"a": {Kube: "n1", Done: true}, "b": {Kube: "n2", Done: true}}, t0); err != nil {
		t.Fatal(err)
	}
	b, _ := NewBatch("b1", "p", "c", Pick{Members: []*Record{r}}, t0)
	recs := map[string]*Record{"r": r}
	if _, err := Step(b, b.Clone(), recs, EventSend, Input{Now: t0, Until: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	seen := b.Clone()
	_, err := Step(b, seen, recs, EventReconciled, Input{Now: t0, Outcomes: map[string]Node{
		"a": {State: NodeFailed, Reason: "removal job j failed; the node is in Error"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Uncordon) != 0 {
		t.Errorf("a node CCE's job failed on is to be uncordoned: %v", r.Uncordon)
	}
	// A refusal is CCE saying no: that node is given back.
	if _, err := Step(b, b.Clone(), recs, EventSend, Input{Now: t0, Until: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := Step(b, b.Clone(), recs, EventRefused, Input{Now: t0, Outcomes: map[string]Node{
		"b": {State: NodeFailed, Reason: "CCE.01400001 refused"}}, Reason: "refused"}); err != nil {
		t.Fatal(err)
	}
	if len(r.Uncordon) != 1 || r.Uncordon[0] != "n2" {
		t.Errorf("uncordon after a refusal: %v", r.Uncordon)
	}
}

func TestDrainMovedAtFollowsProgress(t *testing.T) {
	r := drainingRecord(t, OnTimeoutFail, "a")
	if _, err := DrainStep(r, map[string]NodeDrainResult{"a": {Kube: "n1", Progress: NodeDrain{PodsLeft: 2}}}, t0); err != nil {
		t.Fatal(err)
	}
	if r.DrainMovedAt != nil {
		t.Fatalf("moved at %v without progress", r.DrainMovedAt)
	}
	later := t0.Add(30 * time.Second)
	if _, err := DrainStep(r, map[string]NodeDrainResult{"a": {Moved: true, Progress: NodeDrain{PodsLeft: 1}}}, later); err != nil {
		t.Fatal(err)
	}
	if r.DrainMovedAt == nil || !r.DrainMovedAt.Equal(later) {
		t.Errorf("moved at %v, want %v", r.DrainMovedAt, later)
	}
}
