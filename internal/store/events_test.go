package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/internal/store/storetest"
	"github.com/noderemover/noderemover/removal"
)

// eventLog is every event's type, subject and node, in stream order.
func eventLog(t *testing.T, s *store.Store) []string {
	t.Helper()
	evs, err := s.EventsAfter(context.Background(), "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, e := range evs {
		if i > 0 && removal.CompareEventIDs(evs[i-1].ID, e.ID) >= 0 {
			t.Errorf("event ids not increasing: %s then %s", evs[i-1].ID, e.ID)
		}
		line := e.Subject + " " + strings.TrimPrefix(e.Type, removal.EventTypePrefix)
		if e.Node != "" {
			line += " " + e.Node[len(e.Node)-1:]
		}
		out = append(out, line)
	}
	return out
}

func TestEveryStateChangeHasOneEvent(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := time.Now().UTC()
	a := request("a", 2)
	b := request("b", 1)
	b.Nodes = []string{"00000000-0000-4000-8000-000000000009"}
	c := request("c", 1)
	c.Nodes = []string{"00000000-0000-4000-8000-000000000008"}
	for _, r := range []removal.Request{a, b, c} {
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Create(ctx, a); err != nil { // the same again: no change, no event
		t.Fatal(err)
	}
	if _, _, err := s.Cancel(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Cancel(ctx, "c"); err != nil { // cancelled already: no change
		t.Fatal(err)
	}
	batch := storetest.Form(t, s, now.Add(time.Minute), "a", "b")
	res, err := s.Step(ctx, batch, removal.EventAccepted, removal.Input{Now: now, JobID: "job-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Step(ctx, res.Batch, removal.EventPolled, removal.Input{Now: now}); err != nil { // no state changes
		t.Fatal(err)
	}
	cur, err := s.GetBatch(ctx, batch.ID)
	if err != nil {
		t.Fatal(err)
	}
	failed := removal.Node{State: removal.NodeFailed, Reason: "CCE says no"}
	if _, err := s.EndJob(ctx, cur, removal.Input{Now: now, Outcomes: map[string]removal.Node{a.Nodes[1]: failed},
		Rest: removal.Node{State: removal.NodeRemoved}}, time.Second); err != nil {
		t.Fatal(err)
	}

	want := []string{
		"a request.queued", "b request.queued", "c request.queued",
		"c request.cancelled",
		"a request.submitting", "b request.submitting",
		"a node.removing 0", "a node.removing 1", "a request.polling",
		"b node.removing 9", "b request.polling",
		"a node.removed 0", "a node.failed 1", "a request.failed",
		"b node.removed 9", "b request.succeeded",
	}
	if got := eventLog(t, s); !slices.Equal(got, want) {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The final event carries the status; a node event its node.
	evs, _ := s.EventsAfter(ctx, "", 100)
	last := evs[len(evs)-1]
	var st removal.Status
	if err := json.Unmarshal(last.Data, &st); err != nil || st.State != removal.StateSucceeded || st.RequestID != "b" {
		t.Errorf("final event data %s (%v)", last.Data, err)
	}
	if last.SpecVersion != "1.0" || last.Source != "/projects/p1/clusters/c1" || !last.Final() || last.ClusterKey != "p1/c1" {
		t.Errorf("final event %+v", last)
	}
	var ne removal.NodeEvent
	if err := json.Unmarshal(evs[len(evs)-4].Data, &ne); err != nil || ne.Node.State != removal.NodeFailed || ne.Node.Reason != "CCE says no" {
		t.Errorf("node event data %s (%v)", evs[len(evs)-4].Data, err)
	}
	// Resuming after an event gives what follows it.
	rest, err := s.EventsAfter(ctx, evs[10].ID, 100)
	if err != nil || len(rest) != len(evs)-11 || rest[0].ID != evs[11].ID {
		t.Errorf("after %s: %d events (%v)", evs[10].ID, len(rest), err)
	}
}

func TestEventsAreTrimmed(t *testing.T) {
	ctx := context.Background()
	_, srv := newStore(t)
	s := store.New(srv.Client(t), store.Options{TTL: time.Hour, EventsMaxLen: 10})
	for i := range 300 {
		r := request(fmt.Sprintf("r%d", i), 1)
		r.Nodes = []string{fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.EventsAfter(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) >= 300 || len(evs) < 10 {
		t.Errorf("%d events kept with EventsMaxLen 10", len(evs))
	}
}

func TestHooksGoToOneConsumerAndComeBackWhenNotAcked(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if err := s.JoinHooks(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.JoinHooks(ctx); err != nil { // again: not an error
		t.Fatal(err)
	}
	plain := request("plain", 1)
	plain.Nodes = []string{"00000000-0000-4000-8000-000000000001"}
	hooked := request("hooked", 1)
	hooked.Callback = &removal.Callback{URL: "https://hooks.example.com/x"}
	all := request("all", 1)
	all.Nodes = []string{"00000000-0000-4000-8000-000000000002"}
	all.Callback = &removal.Callback{URL: "https://hooks.example.com/y", Events: removal.CallbackAll}
	for _, r := range []removal.Request{plain, hooked, all} {
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"plain", "hooked", "all"} {
		if _, _, err := s.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.NextHooks(ctx, "w1", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Subject+" "+strings.TrimPrefix(e.Type, removal.EventTypePrefix)+" "+e.Hook)
	}
	want := []string{
		"all request.queued https://hooks.example.com/y",
		"hooked request.cancelled https://hooks.example.com/x",
		"all request.cancelled https://hooks.example.com/y",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("hooks %q, want %q", names, want)
	}
	if more, err := s.NextHooks(ctx, "w2", 10*time.Millisecond, 100); err != nil || len(more) != 0 {
		t.Fatalf("another consumer got %d (%v)", len(more), err)
	}
	// w1 acks one and dies: the other two come back to w2.
	if err := s.AckHooks(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	stale, err := s.StaleHooks(ctx, "w2", 0, 100)
	if err != nil || len(stale) != 2 || stale[0].ID != got[1].ID {
		t.Fatalf("stale %+v (%v)", stale, err)
	}
}
