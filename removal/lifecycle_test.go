package removal_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/removal"
	"github.com/noderemover/noderemover/removal/removaltest"
)

// inState makes case c's batch and records in state from, as the lifecycle
// would have brought them there a minute before now.
func inState(tb testing.TB, c removaltest.Case, now time.Time) (*removal.Batch, map[string]*removal.Record) {
	tb.Helper()
	now = now.Add(-time.Minute)
	var recs []*removal.Record
	ids := []string{}
	byID := map[string]*removal.Record{}
	for _, req := range c.Requests() {
		r := removal.NewRecord(req, now.Add(-time.Minute))
		recs = append(recs, r)
		ids = append(ids, r.RequestID)
		byID[r.RequestID] = r
	}
	pick := removal.PickMembers(ids, byID, removal.FormOptions{Merge: true}, now)
	b, _ := removal.NewBatch("batch-1", removaltest.Project, removaltest.Cluster, pick, now)
	members := b.Records(recs)
	for _, s := range removaltest.Steps(c.From, now) {
		if _, err := removal.Step(b, clone(b), members, s.Event, s.Input); err != nil {
			tb.Fatalf("to %s: %v", c.From, err)
		}
	}
	if b.State != c.From {
		tb.Fatalf("batch is %s, want %s", b.State, c.From)
	}
	return b, members
}

func clone(b *removal.Batch) *removal.Batch {
	c := *b
	c.Members = slices.Clone(b.Members)
	return &c
}

// TestEveryTransition runs every case of every line of the table and checks
// that the batch ends where the line says, the requests move only as
// requests may, and what each event is for happened.
func TestEveryTransition(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	for _, c := range removaltest.Cases(now) {
		t.Run(c.Name, func(t *testing.T) {
			b, recs := inState(t, c, now)
			changes, err := removal.Step(b, clone(b), recs, c.Event, c.Input)
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range removal.Transitions() {
				if tr.From == c.From && tr.Event == c.Event {
					seen[string(tr.From)+"/"+string(tr.Event)] = true
					if !slices.Contains(tr.To, b.State) {
						t.Errorf("batch ended %s, not one of %v", b.State, tr.To)
					}
				}
			}
			for _, ch := range changes {
				if !removal.MayMove(ch.From, ch.Record.State) {
					t.Errorf("request %s went %s → %s", ch.Record.RequestID, ch.From, ch.Record.State)
				}
			}
			check(t, c, b, recs)
		})
	}
	for _, tr := range removal.Transitions() {
		if !seen[string(tr.From)+"/"+string(tr.Event)] {
			t.Errorf("no case for %s --%s-->", tr.From, tr.Event)
		}
	}
}

// check says what each case must have done.
func check(tb testing.TB, c removaltest.Case, b *removal.Batch, recs map[string]*removal.Record) {
	tb.Helper()
	r0, r1 := recs["request-0"], recs["request-1"]
	states := func(want ...removal.State) {
		tb.Helper()
		for i, r := range []*removal.Record{r0, r1}[:len(want)] {
			if r.State != want[i] {
				tb.Errorf("request-%d is %s, want %s (error %q)", i, r.State, want[i], r.Error)
			}
		}
	}
	switch c.Name {
	case "Send":
		states(removal.StateSubmitting, removal.StateSubmitting)
		if b.Attempt != 1 || r0.Attempts != 1 || !b.SendingAt.Equal(c.Input.Now) || !b.SendingUntil.Equal(c.Input.Until) {
			tb.Errorf("batch %+v, record attempts %d", b, r0.Attempts)
		}
	case "GiveUp", "JobLost":
		states(removal.StateFailed, removal.StateFailed)
	case "Accepted":
		states(removal.StatePolling, removal.StatePolling)
		if b.JobID != removaltest.JobID || r1.JobID != removaltest.JobID || r1.Nodes[0].State != removal.NodeRemoving {
			tb.Errorf("batch job %q, record %+v", b.JobID, r1)
		}
	case "OutcomeUnknown":
		if !b.SendingUntil.Equal(c.Input.Now) || b.LastError != c.Input.Reason || b.Attempt != 1 {
			tb.Errorf("batch %+v: want sending until now, with the reason", b)
		}
	case "Throttled":
		states(removal.StateQueued, removal.StateQueued)
		if r0.Attempts != 0 {
			tb.Errorf("%d attempts after a throttled call, want 0", r0.Attempts)
		}
	case "Failed":
		states(removal.StateQueued, removal.StateQueued)
		if r0.Attempts != 1 || r0.BatchID != "" {
			tb.Errorf("record %+v: want queued again with its attempt counted", r0)
		}
	case "RefusedSomeNodes":
		states(removal.StateQueued, removal.StateQueued)
		if n := r0.Nodes[1]; n.State != removal.NodeFailed || !strings.Contains(n.Reason, "CCE.01404001") || r0.Nodes[0].State != removal.NodePending {
			tb.Errorf("request-0 nodes %+v: want the named node failed, the other pending", r0.Nodes)
		}
	case "RefusedMergedNamingNone":
		states(removal.StateQueued, removal.StateQueued)
		if !r0.Solo || !r1.Solo {
			tb.Error("the requests of a merged call refused naming no node should go alone next")
		}
	case "RefusedAlone":
		states(removal.StateFailed)
	case "ReconciledNotSent":
		states(removal.StateSubmitting, removal.StateSubmitting)
		if b.State != removal.BatchReady || b.Attempt != 1 {
			tb.Errorf("batch %s attempt %d, want ready with the attempt kept", b.State, b.Attempt)
		}
	case "ReconciledAdopted":
		states(removal.StatePolling, removal.StatePolling)
		if b.State != removal.BatchAccepted || b.JobID != removaltest.JobID || len(b.Nodes()) != 3 || r1.Nodes[0].State != removal.NodeRemoved {
			tb.Errorf("batch %+v: want the job adopted for the three nodes left", b)
		}
	case "ReconciledAllKnown":
		states(removal.StateSucceeded, removal.StateFailed)
	case "Polled":
		if b.Polls != 1 || !r0.UpdatedAt.Before(c.Input.Now) {
			tb.Errorf("polls %d, request updated %v: a poll counts on the batch and changes no record", b.Polls, r0.UpdatedAt)
		}
	case "JobEnded":
		states(removal.StateSucceeded, removal.StateFailed)
		if r1.Nodes[0].State != removal.NodeRemoved || r1.Nodes[1].State != removal.NodeFailed {
			tb.Errorf("request-1 nodes %+v: want the one the job named failed, the rest removed", r1.Nodes)
		}
	default:
		tb.Fatalf("no check for case %s", c.Name)
	}
}

// TestEventsOutOfPlaceAreStale: an event in a state the table has no line
// for, or on a batch that is not what the caller saw, changes nothing and
// is removal.ErrStale.
func TestEventsOutOfPlaceAreStale(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range removaltest.Cases(now) {
		for _, s := range []removal.BatchState{removal.BatchReady, removal.BatchSending, removal.BatchAccepted} {
			if slices.ContainsFunc(removal.Transitions(), func(tr removal.Transition) bool { return tr.From == s && tr.Event == c.Event }) {
				continue
			}
			cc := c
			cc.From = s
			b, recs := inState(t, cc, now)
			before := *b
			if _, err := removal.Step(b, clone(b), recs, c.Event, c.Input); !errors.Is(err, removal.ErrStale) {
				t.Errorf("%s on a %s batch: %v, want ErrStale", c.Event, s, err)
			}
			if b.State != before.State || b.Attempt != before.Attempt {
				t.Errorf("%s on a %s batch changed it", c.Event, s)
			}
		}
	}
	b, recs := inState(t, removaltest.Cases(now)[2], now) // sending
	old := clone(b)
	old.Attempt = 0 // the caller saw an earlier attempt
	if _, err := removal.Step(b, old, recs, removal.EventAccepted, removal.Input{Now: now, JobID: "j"}); !errors.Is(err, removal.ErrStale) {
		t.Errorf("accepted for an earlier attempt: %v, want ErrStale", err)
	}
	b, recs = inState(t, removaltest.Case{From: removal.BatchAccepted, Members: 1}, now)
	old = clone(b)
	old.Polls = 3
	if _, err := removal.Step(b, old, recs, removal.EventPolled, removal.Input{Now: now}); !errors.Is(err, removal.ErrStale) {
		t.Errorf("a copy of another poll: %v, want ErrStale", err)
	}
	old = clone(b)
	old.JobID = "another-job"
	if _, err := removal.Step(b, old, recs, removal.EventJobEnded, removal.Input{Now: now}); !errors.Is(err, removal.ErrStale) {
		t.Errorf("the end of another job: %v, want ErrStale", err)
	}
}

func TestCancel(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	c := removaltest.Case{From: removal.BatchReady, Members: 2}
	b, recs := inState(t, c, now)
	r := recs["request-0"]
	if ok, err := removal.Cancel(r, b, now); !ok || err != nil || r.State != removal.StateCancelled {
		t.Fatalf("cancel in a ready batch: %v %v %s", ok, err, r.State)
	}
	if b.Has("request-0") || len(b.Nodes()) != 2 {
		t.Errorf("batch %+v still carries the cancelled request", b.Members)
	}
	if ok, err := removal.Cancel(r, b, now); ok || err != nil {
		t.Errorf("cancelling again: %v %v, want nothing to do", ok, err)
	}
	c.From = removal.BatchSending
	b, recs = inState(t, c, now)
	var no *removal.NotCancellableError
	if _, err := removal.Cancel(recs["request-1"], b, now); !errors.As(err, &no) || !strings.Contains(no.Reason, "under way") {
		t.Errorf("cancel while sending: %v", err)
	}
	c.From = removal.BatchAccepted
	b, recs = inState(t, c, now)
	if _, err := removal.Cancel(recs["request-1"], b, now); !errors.As(err, &no) || no.JobID != removaltest.JobID {
		t.Errorf("cancel once accepted: %v, want refused naming the job", err)
	}
}
