package removal

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The life of a batch, and with it of its requests, in one place.
//
// A batch is formed ready from waiting requests (form.go) and then moves
// only by the events below. Each line of the table says in which state an
// event may happen, where the batch may end up, what must still hold of the
// batch the caller saw (the guard), and what the event does to the batch
// and its member records. Step is the only way through it; the store writes
// what Step decided, in one plan.
//
//	ready    --send---------------> sending    intent recorded, one more attempt
//	ready    --give-up------------> done       attempts used up: every request fails
//	sending  --accepted-----------> accepted   CCE runs JobID; nodes removing
//	sending  --outcome-unknown----> sending    the call may have reached CCE: reconcile first
//	sending  --throttled----------> done       nothing done; requests wait again, attempt not counted
//	sending  --failed-------------> done       nothing done; requests wait again, attempt counted
//	sending  --refused------------> done       named nodes fail; the rest wait again (or all fail)
//	sending  --reconciled---------> done | accepted | ready
//	                                           nodes with an outcome leave; our job adopted, or not sent
//	accepted --polled-------------> accepted   one more poll counted
//	accepted --job-ended----------> done       each node's outcome from the job
//	accepted --job-lost-----------> done       the job did not end in time, or CCE forgot it
//
// A request that drains goes queued → draining first, and back to queued
// once each of its nodes is drained or failed (DrainStep); only then can it
// join a batch. A request follows its batch (requestMoves below): queued →
// submitting when it joins a batch, back to queued when its batch dissolves, polling once
// CCE accepted it, and final (succeeded, failed, cancelled) once every node
// has an outcome. Outside batches a queued request can be cancelled, or fail
// out of attempts while a batch forms; any open request can be abandoned.

// Event is something that happened to a batch.
type Event string

// The events of a batch's life.
const (
	EventSend           Event = "send"            // the intent to call RemoveNode is recorded
	EventGiveUp         Event = "give-up"         // the attempts are used up before a call
	EventAccepted       Event = "accepted"        // CCE accepted the call: Input.JobID
	EventOutcomeUnknown Event = "outcome-unknown" // no answer, or a 5xx: the call may have gone through
	EventThrottled      Event = "throttled"       // a 429: throttled, or the cluster locked by another operation
	EventFailed         Event = "failed"          // a definite answer that nothing was done, worth another attempt
	EventRefused        Event = "refused"         // CCE refused for good; Input.Outcomes: the nodes it named
	EventReconciled     Event = "reconciled"      // CCE was asked about every node: Input.Outcomes, Input.JobID
	EventPolled         Event = "polled"          // the job still runs
	EventJobEnded       Event = "job-ended"       // the job ended: Input.Outcomes per node
	EventJobLost        Event = "job-lost"        // the job did not end in time, or CCE no longer knows it
)

// Input is what an event brings; each event reads the fields its comment
// names.
type Input struct {
	Now      time.Time
	Until    time.Time       // send: when a call marked sending is over for sure
	JobID    string          // accepted; reconciled: the job adopted, "" if none
	Outcomes map[string]Node // refused, reconciled, job-ended: outcomes of nodes, by uid
	Rest     Node            // job-ended: the outcome of every node Outcomes does not name
	Reason   string          // outcome-unknown, throttled, failed, refused, job-lost: why
}

// transition is one line of the table.
type transition struct {
	from  BatchState
	event Event
	to    []BatchState
	guard guard
	apply func(b *Batch, recs map[string]*Record, in Input)
}

// guard says whether the batch as it is now (cur) is still the batch the
// caller saw, as far as the event cares.
type guard func(cur, seen *Batch) bool

func sameAttempt(cur, seen *Batch) bool { return cur.Attempt == seen.Attempt }
func sameJob(cur, seen *Batch) bool     { return cur.JobID == seen.JobID }
func samePoll(cur, seen *Batch) bool    { return cur.JobID == seen.JobID && cur.Polls == seen.Polls }

var lifecycle = []transition{
	{BatchReady, EventSend, []BatchState{BatchSending}, sameAttempt, markSending},
	{BatchReady, EventGiveUp, []BatchState{BatchDone}, sameAttempt, giveUp},
	{BatchSending, EventAccepted, []BatchState{BatchAccepted}, sameAttempt, accept},
	{BatchSending, EventOutcomeUnknown, []BatchState{BatchSending}, sameAttempt, outcomeUnknown},
	{BatchSending, EventThrottled, []BatchState{BatchDone}, sameAttempt, throttled},
	{BatchSending, EventFailed, []BatchState{BatchDone}, sameAttempt, failedAttempt},
	{BatchSending, EventRefused, []BatchState{BatchDone}, sameAttempt, refused},
	{BatchSending, EventReconciled, []BatchState{BatchDone, BatchAccepted, BatchReady}, sameAttempt, reconciled},
	{BatchAccepted, EventPolled, []BatchState{BatchAccepted}, samePoll, polled},
	{BatchAccepted, EventJobEnded, []BatchState{BatchDone}, sameJob, jobEnded},
	{BatchAccepted, EventJobLost, []BatchState{BatchDone}, sameJob, jobLost},
}

// requestMoves are the state changes a request may make.
var requestMoves = map[State][]State{
	StateQueued:     {StateDraining, StateSubmitting, StateFailed, StateCancelled},
	StateDraining:   {StateQueued, StateFailed, StateCancelled},
	StateSubmitting: {StateQueued, StatePolling, StateSucceeded, StateFailed, StateCancelled},
	StatePolling:    {StateSucceeded, StateFailed},
}

// ErrStale means another run moved the batch (or request) on since the
// caller looked: look again. It is never a failure and never an attempt.
var ErrStale = errors.New("moved on by another run; look again")

// Step moves batch cur, as it is in Redis, and its member records on by
// event ev, provided ev may happen in cur's state and cur is still what the
// caller saw (seen) as far as ev cares; otherwise the error is ErrStale and
// nothing changed. It returns the records whose state changed.
func Step(cur, seen *Batch, recs map[string]*Record, ev Event, in Input) ([]Change, error) {
	t, ok := find(cur.State, ev)
	if !ok || !t.guard(cur, seen) {
		return nil, fmt.Errorf("batch %s is %s (attempt %d, job %q, poll %d): %s: %w",
			cur.ID, cur.State, cur.Attempt, cur.JobID, cur.Polls, ev, ErrStale)
	}
	before := make(map[string]State, len(recs))
	was := make(map[string]*Record, len(recs))
	for id, r := range recs {
		before[id], was[id] = r.State, r.Clone()
	}
	t.apply(cur, recs, in)
	if len(cur.Members) == 0 {
		cur.State = BatchDone
	}
	cur.UpdatedAt = in.Now
	if !slices.Contains(t.to, cur.State) {
		return nil, fmt.Errorf("internal: %s took batch %s to %s, not one of %v", ev, cur.ID, cur.State, t.to)
	}
	for id, r := range recs {
		if !r.same(was[id]) {
			r.UpdatedAt = in.Now
		}
	}
	return changesOf(recs, before)
}

// changesOf lists, in a stable order, the records whose state differs from
// before, checking each move against requestMoves.
func changesOf(recs map[string]*Record, before map[string]State) ([]Change, error) {
	ids := make([]string, 0, len(recs))
	for id := range recs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var changes []Change
	for _, id := range ids {
		r := recs[id]
		if from := before[id]; r.State != from {
			if !MayMove(from, r.State) {
				return nil, fmt.Errorf("internal: request %s may not go from %s to %s", id, from, r.State)
			}
			changes = append(changes, Change{Record: r, From: from})
		}
	}
	return changes, nil
}

// MayMove reports whether a request may go from one state to another.
func MayMove(from, to State) bool { return slices.Contains(requestMoves[from], to) }

// Allows reports whether event ev may still happen to batch cur, the
// caller having seen it as seen: what Step would check, for a caller that
// would otherwise do work (ask CCE) only to be told it is stale.
func Allows(cur, seen *Batch, ev Event) bool {
	t, ok := find(cur.State, ev)
	return ok && t.guard(cur, seen)
}

// Transition is one line of the table, as Transitions lists it.
type Transition struct {
	From  BatchState
	Event Event
	To    []BatchState
}

// Transitions lists the table's lines, for the documentation and its test.
func Transitions() []Transition {
	out := make([]Transition, len(lifecycle))
	for i, t := range lifecycle {
		out[i] = Transition{From: t.from, Event: t.event, To: slices.Clone(t.to)}
	}
	return out
}

func find(s BatchState, ev Event) (transition, bool) {
	for _, t := range lifecycle {
		if t.from == s && t.event == ev {
			return t, true
		}
	}
	return transition{}, false
}

// Change is a record whose state a step changed.
type Change struct {
	Record *Record
	From   State
}

// The effects of the events.

func markSending(b *Batch, recs map[string]*Record, in Input) {
	b.State, b.SendingAt, b.SendingUntil = BatchSending, in.Now, in.Until
	b.Attempt++
	for _, m := range b.Members {
		if r := recs[m.RequestID]; r != nil && !r.State.Final() {
			r.Attempts++
			r.State, r.Waiting = StateSubmitting, ""
		}
	}
}

func giveUp(b *Batch, recs map[string]*Record, in Input) {
	b.failAll(recs, fmt.Sprintf("gave up after %d RemoveNode calls; last error: %s", b.Attempt, b.LastError), in.Now)
}

func accept(b *Batch, recs map[string]*Record, in Input) {
	b.State, b.JobID, b.SendingUntil, b.AcceptedAt, b.Throttled = BatchAccepted, in.JobID, time.Time{}, &in.Now, 0
	for _, m := range b.Members {
		r := recs[m.RequestID]
		if r == nil || r.State.Final() {
			continue
		}
		r.JobID, r.SubmittedAt, r.State = in.JobID, &in.Now, StatePolling
		for _, uid := range m.Nodes {
			r.SetNode(uid, NodeRemoving, "")
		}
	}
}

func outcomeUnknown(b *Batch, _ map[string]*Record, in Input) {
	b.SendingUntil, b.LastError = in.Now, in.Reason // over: reconcile at once
}

func throttled(b *Batch, recs map[string]*Record, in Input) {
	// Not the batch's fault: the attempt is taken back.
	b.Attempt--
	for _, m := range b.Members {
		if r := recs[m.RequestID]; r != nil && r.Attempts > 0 {
			r.Attempts--
		}
	}
	b.dissolve(recs, in.Reason)
}

func failedAttempt(b *Batch, recs map[string]*Record, in Input) { b.dissolve(recs, in.Reason) }

// refused: the nodes CCE named fail with its reason and the rest wait
// again, to be sent without them. When it named none and the call was
// merged, each request goes alone next time, so that one cannot fail the
// others. Otherwise every request fails.
func refused(b *Batch, recs map[string]*Record, in Input) {
	named := len(in.Outcomes)
	switch {
	case named > 0 && named < len(b.Nodes()):
		b.resolve(recs, in.Outcomes, in.Now)
		b.dissolve(recs, "sent again without the nodes CCE refused: "+in.Reason)
	case named == 0 && len(b.Members) > 1:
		for _, m := range b.Members {
			if r := recs[m.RequestID]; r != nil {
				r.Solo = true
			}
		}
		b.dissolve(recs, "merged call refused, sent alone next: "+in.Reason)
	default:
		b.resolve(recs, in.Outcomes, in.Now)
		b.failAll(recs, in.Reason, in.Now)
	}
}

// reconciled: nodes whose outcome is known leave the batch; if a node shows
// the batch's own job the rest poll it, else nothing was sent.
func reconciled(b *Batch, recs map[string]*Record, in Input) {
	// A node that fails here failed in a removal job CCE ran for the call:
	// CCE took it, so it is not given back to the scheduler.
	taken := map[string]string{} // uid → owner
	for uid, o := range in.Outcomes {
		if owner, ok := b.Owner(uid); ok && o.State == NodeFailed {
			taken[uid] = owner
		}
	}
	b.resolve(recs, in.Outcomes, in.Now)
	for uid, owner := range taken {
		recs[owner].keepCordoned(uid)
	}
	switch {
	case len(b.Members) == 0:
	case in.JobID != "":
		accept(b, recs, in)
	default:
		b.State, b.SendingUntil, b.LastError = BatchReady, time.Time{}, "reconciled: no node shows the earlier call"
	}
}

func polled(b *Batch, _ map[string]*Record, _ Input) { b.Polls++ }

func jobEnded(b *Batch, recs map[string]*Record, in Input) {
	all := make(map[string]Node, len(b.Nodes()))
	for _, uid := range b.Nodes() {
		o, ok := in.Outcomes[uid]
		if !ok {
			o = in.Rest
		}
		all[uid] = o
	}
	b.resolve(recs, all, in.Now)
}

func jobLost(b *Batch, recs map[string]*Record, in Input) { b.failAll(recs, in.Reason, in.Now) }

// Request-level moves outside a batch's events.

// Abandon fails an open request for reason: its task will not run again, or
// its batch is lost. It reports whether the record changed.
func Abandon(r *Record, reason string, now time.Time) bool {
	if r.State.Final() {
		return false
	}
	r.Fail(reason, now)
	r.UpdatedAt = now
	return true
}

// cancelReason is what the nodes of a cancelled request say.
const cancelReason = "cancelled before it was sent to CCE"

// Cancel ends request r, in batch b (nil when it is in none), before it
// reached CCE: queued, or in a batch that is not being sent. Its nodes leave
// b. Cancelling a cancelled request changes nothing (false). A request CCE
// accepted, may be accepting right now, or that ended otherwise gives a
// *NotCancellableError that says why.
func Cancel(r *Record, b *Batch, now time.Time) (bool, error) {
	if err := cancellable(r, b); err != nil || r.State == StateCancelled {
		return false, err
	}
	for i := range r.Nodes {
		r.Nodes[i].Reason = cancelReason
		r.release(r.Nodes[i].UID)
	}
	r.State, r.Error, r.Waiting, r.UpdatedAt, r.FinishedAt = StateCancelled, "cancelled", "", now, &now
	if b != nil {
		b.DropNodes(nodeSet(b, r.RequestID))
		if len(b.Members) == 0 {
			b.State = BatchDone
		}
		b.UpdatedAt = now
	}
	return true, nil
}

// cancellable says why r (in batch b, if any) cannot be cancelled, or nil.
func cancellable(r *Record, b *Batch) error {
	no := func(reason string) error {
		return &NotCancellableError{RequestID: r.RequestID, State: r.State, JobID: r.JobID, Reason: reason}
	}
	switch {
	case r.State == StateCancelled, r.State == StateQueued, r.State == StateDraining:
		return nil
	case r.State.Final():
		return no("it already ended " + string(r.State))
	case r.State == StatePolling || (b != nil && b.State == BatchAccepted):
		job := r.JobID
		if job == "" && b != nil {
			job = b.JobID
		}
		return no("CCE accepted its removal as job " + job + " and CCE cannot cancel a running removal")
	case b != nil && b.State == BatchSending:
		return no("a RemoveNode call for it is under way and its outcome is not known yet; try again in a few seconds")
	}
	return nil // submitting in a ready batch: not sent
}

// nodeSet is the nodes request id holds in b.
func nodeSet(b *Batch, id string) map[string]bool {
	out := map[string]bool{}
	for _, m := range b.Members {
		if m.RequestID == id {
			for _, n := range m.Nodes {
				out[n] = true
			}
		}
	}
	return out
}

// NotCancellableError says why a request cannot be cancelled.
type NotCancellableError struct {
	RequestID string
	State     State
	JobID     string
	Reason    string
}

func (e *NotCancellableError) Error() string {
	return fmt.Sprintf("request %s cannot be cancelled: %s", e.RequestID, e.Reason)
}

// ErrNotCancellable matches every *NotCancellableError.
var ErrNotCancellable = errors.New("request cannot be cancelled")

// Is makes errors.Is(err, ErrNotCancellable) true.
func (e *NotCancellableError) Is(target error) bool { return target == ErrNotCancellable }

// The drain: a request-level stage before a request can join a batch.

// NeedsDrain reports whether queued request r is to be drained before it
// may join a batch: it drains, and a node of it has not been drained yet.
func (r *Record) NeedsDrain() bool {
	if r.Drain == nil || r.State != StateQueued {
		return false
	}
	for _, n := range r.Nodes {
		if n.State == NodePending {
			return true
		}
	}
	return false
}

// Draining reports whether a worker is to carry r's drain on: it needs one,
// or one runs.
func (r *Record) Draining() bool { return r.State == StateDraining || r.NeedsDrain() }

// waitingNode is the state of a node of r that waits for a RemoveNode call.
func (r *Record) waitingNode() NodeState {
	if r.Drain != nil {
		return NodeDrained
	}
	return NodePending
}

// NodeDrainResult is what one pass of a worker found for one node of a
// draining request.
type NodeDrainResult struct {
	// Kube is the node's Kubernetes Node, once found.
	Kube string
	// Found: the Node was found (Kube) and is about to be cordoned; the node
	// stays pending. Written before the cordon, so that a request that ends
	// after a cordon whose own write was lost still knows the Node to
	// uncordon (if the Node's mark names the request).
	Found bool
	// Failed, when set, fails the node for good with this reason (no
	// Kubernetes Node, protected, the drain cannot go on).
	Failed string
	// Done: no Pod that must go is left and no volume is attached.
	Done bool
	// Progress is how the drain stands (pods left, what holds them).
	Progress NodeDrain
	// Moved: the pass got somewhere (an eviction was accepted).
	Moved bool
}

// DrainStep carries request r's drain on by what a pass found (results,
// by node uid), deciding timeouts: a node whose drain did not end within
// the request's timeout fails (on_timeout fail; it is to be uncordoned) or
// goes on to CCE with its Pods on it (on_timeout remove). When no node is
// left draining, the request is queued for its RemoveNode call, or fails
// when no node is left. A queued request starts draining. It returns the
// change of the request's state, if any; ErrStale when r is not draining.
func DrainStep(r *Record, results map[string]NodeDrainResult, now time.Time) (*Change, error) {
	if !r.Draining() {
		return nil, fmt.Errorf("request %s is %s, not draining: %w", r.RequestID, r.State, ErrStale)
	}
	was, from := r.Clone(), r.State
	r.Waiting = "" // a pass ran: nothing holds it back
	if r.State == StateQueued {
		r.State, r.DrainStartedAt, r.Error = StateDraining, &now, ""
	}
	timedOut := now.Sub(*r.DrainStartedAt) >= time.Duration(r.Drain.Timeout)
	for i := range r.Nodes {
		n := &r.Nodes[i]
		res, ok := results[n.UID]
		if !ok || (n.State != NodePending && n.State != NodeDraining) {
			continue
		}
		if res.Kube != "" {
			if r.Kube == nil {
				r.Kube = map[string]string{}
			}
			r.Kube[n.UID] = res.Kube
		}
		if res.Moved || res.Done {
			r.DrainMovedAt = &now
		}
		p := res.Progress
		p.BlockedBy = append([]string{}, p.BlockedBy...) // [] in JSON, not null
		switch {
		case res.Failed != "":
			r.SetNode(n.UID, NodeFailed, res.Failed)
		case res.Found:
		case res.Done:
			n.State, n.Reason, n.Drain = NodeDrained, "", &p
		case timedOut && r.Drain.OnTimeout == OnTimeoutRemove:
			p.TimedOut = true
			n.State, n.Reason, n.Drain = NodeDrained, "drain timed out; handed to CCE with its Pods still on it", &p
		case timedOut:
			n.Drain = &p
			r.SetNode(n.UID, NodeFailed, drainTimeoutReason(time.Duration(r.Drain.Timeout), p))
		default:
			n.State, n.Drain = NodeDraining, &p
		}
	}
	left, drained := 0, 0
	for _, n := range r.Nodes {
		switch n.State {
		case NodePending, NodeDraining:
			left++
		case NodeDrained:
			drained++
		}
	}
	switch {
	case left > 0:
	case drained > 0:
		r.State = StateQueued
	default:
		r.Settle(now)
	}
	if !r.same(was) {
		r.UpdatedAt = now
	}
	if r.State == from {
		return nil, nil
	}
	if !MayMove(from, r.State) {
		return nil, fmt.Errorf("internal: request %s may not go from %s to %s", r.RequestID, from, r.State)
	}
	return &Change{Record: r, From: from}, nil
}

// drainTimeoutReason says what held a node whose drain timed out.
func drainTimeoutReason(timeout time.Duration, p NodeDrain) string {
	s := fmt.Sprintf("drain timed out after %s with %d Pods left", timeout, p.PodsLeft)
	if len(p.BlockedBy) > 0 {
		s += ": " + strings.Join(p.BlockedBy, "; ")
	}
	return s
}

// Uncordoned notes that the Kubernetes Nodes names were made schedulable
// again (or needed not be): they leave r's list. It reports whether r
// changed.
func Uncordoned(r *Record, names []string, now time.Time) bool {
	n := len(r.Uncordon)
	r.Uncordon = slices.DeleteFunc(r.Uncordon, func(name string) bool { return slices.Contains(names, name) })
	if len(r.Uncordon) == 0 {
		r.Uncordon = nil
	}
	if len(r.Uncordon) == n {
		return false
	}
	r.UpdatedAt = now
	return true
}

// Hold notes why open request r waits without moving on (a pause); ""
// lifts the note. It reports whether r changed.
func Hold(r *Record, why string, now time.Time) bool {
	if r.State.Final() || r.Waiting == why {
		return false
	}
	r.Waiting, r.UpdatedAt = why, now
	return true
}
