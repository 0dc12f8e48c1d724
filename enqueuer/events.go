package enqueuer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/noderemover/noderemover/internal/store"
	"github.com/noderemover/noderemover/removal"
)

// Event is one published event: a change of state of a request or of one of
// its nodes, in CloudEvents 1.0 JSON. Its ID is its place in the stream; a
// reader resumes after the last ID it saw.
type Event = removal.CloudEvent

// NodeEvent is the data of a node event ("dev.noderemover.node.*"); a
// request event's data is the request's Status.
type NodeEvent = removal.NodeEvent

// AllowedHosts are the hosts callbacks may go to (WEBHOOK_ALLOWED_HOSTS).
type AllowedHosts = removal.AllowedHosts

// ParseAllowedHosts reads WEBHOOK_ALLOWED_HOSTS: "host", "host:port" or
// "*.domain", comma-separated.
var ParseAllowedHosts = removal.ParseAllowedHosts

// EventTypePrefix starts every event's type: "dev.noderemover.request.<state>"
// and "dev.noderemover.node.<node state>".
const EventTypePrefix = removal.EventTypePrefix

// ErrClosed says the Client's feeds were ended (CloseFeeds, Close).
var ErrClosed = errors.New("the client's event feeds are closed")

// ErrFellBehind says a reader of Events did not take events as fast as they
// came and was let go; resume after the last event it saw.
var ErrFellBehind = errors.New("the event reader fell behind; resume after the last event it saw")

// EventFilter says which events Events gives.
type EventFilter struct {
	// After resumes after this event id; "" starts with the next event.
	After string
	// RequestIDs, when not empty, keeps the events of these requests.
	RequestIDs []string
	// ClusterID, when not "", keeps the events of this cluster.
	ClusterID string
}

// Validate names what is wrong with the filter.
func (f EventFilter) Validate() error { return f.validate() }

func (f *EventFilter) validate() error {
	if f.After != "" {
		if err := removal.ValidEventID(f.After); err != nil {
			return &InvalidError{Field: "after", Problem: err.Error()}
		}
	}
	for _, id := range f.RequestIDs {
		if err := removal.ValidRequestID(id); err != nil {
			return err
		}
	}
	if f.ClusterID != "" {
		if err := removal.ValidClusterID(f.ClusterID); err != nil {
			return err
		}
	}
	return nil
}

func (f *EventFilter) keeps(e *store.Event) bool {
	if f.ClusterID != "" && !strings.HasSuffix(e.ClusterKey, "/"+f.ClusterID) {
		return false
	}
	if len(f.RequestIDs) == 0 {
		return true
	}
	for _, id := range f.RequestIDs {
		if e.Subject == id {
			return true
		}
	}
	return false
}

// Events calls fn with each event f keeps, oldest first, as they happen,
// until ctx ends (its error comes back), fn returns an error (which comes
// back), or the reader falls behind (ErrFellBehind). See Follow.
func (c *Client) Events(ctx context.Context, f EventFilter, fn func(Event) error) error {
	feed, err := c.Follow(ctx, f)
	if err != nil {
		return err
	}
	defer feed.Close()
	for {
		e, err := feed.Next(ctx)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// Feed is one reader's events (Follow); not for concurrent use.
type Feed struct {
	c       *Client
	f       EventFilter
	sub     *subscriber
	pos     string // the live feed gives what follows this id
	last    string // the last id given ("" when it started live)
	history []store.Event
	catchUp bool // still reading what came before pos
}

// Follow starts a reader of the events f keeps. With f.After it first gives
// what followed that event, then goes on live, without a gap or a repeat;
// without, it starts with the next event. Events older than the stream keeps
// (EVENTS_MAX_LEN) are gone. Every reader of a Client shares one Redis
// connection that waits for news. Close the Feed when done.
func (c *Client) Follow(ctx context.Context, f EventFilter) (*Feed, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	sub, pos, err := c.events.subscribe(ctx)
	if errors.Is(err, ErrClosed) {
		return nil, err
	}
	if err != nil {
		return nil, unavailable(err, leftNothingRead)
	}
	return &Feed{c: c, f: f, sub: sub, pos: pos, last: f.After, catchUp: f.After != ""}, nil
}

// Close lets the feed go.
func (fd *Feed) Close() { fd.c.events.unsubscribe(fd.sub) }

// Next waits for the next event the feed keeps, until ctx ends (its error
// comes back) or the reader falls behind (ErrFellBehind: follow again after
// the last event seen).
func (fd *Feed) Next(ctx context.Context) (Event, error) {
	for fd.catchUp {
		if len(fd.history) == 0 {
			const page = 500
			evs, err := fd.c.events.st.EventsAfter(ctx, fd.last, page)
			if err != nil {
				return Event{}, unavailable(err, leftNothingRead)
			}
			fd.history = evs
			if len(evs) == 0 {
				fd.catchUp = false
				break
			}
		}
		e := fd.history[0]
		fd.history = fd.history[1:]
		if removal.CompareEventIDs(e.ID, fd.pos) > 0 {
			fd.catchUp, fd.history = false, nil // the live feed has it
			break
		}
		fd.last = e.ID
		if fd.f.keeps(&e) {
			return e.CloudEvent, nil
		}
	}
	for {
		select {
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case e, ok := <-fd.sub.ch:
			if !ok {
				if fd.c.events.ctx.Err() != nil {
					return Event{}, ErrClosed
				}
				return Event{}, ErrFellBehind
			}
			if fd.last != "" && removal.CompareEventIDs(e.ID, fd.last) <= 0 {
				continue
			}
			fd.last = e.ID
			if fd.f.keeps(&e) {
				return e.CloudEvent, nil
			}
		}
	}
}

// Wait returns request id's status once it is final (at once if it is),
// learning of it from the event stream, not by polling. ctx bounds the
// wait; when it ends, the error is ctx's.
func (c *Client) Wait(ctx context.Context, id string) (Status, error) {
	if err := removal.ValidRequestID(id); err != nil {
		return Status{}, err
	}
	for {
		sub, _, err := c.events.subscribe(ctx)
		if errors.Is(err, ErrClosed) {
			return Status{}, err
		}
		if err != nil {
			return Status{}, unavailable(err, leftNothingRead)
		}
		st, done, err := c.waitOnce(ctx, id, sub)
		c.events.unsubscribe(sub)
		if done || err != nil {
			return st, err
		}
	}
}

// waitOnce reads the status (after subscribing, so no event is missed in
// between) and then waits for the request's final event; done is false when
// the feed let this reader go (read again).
func (c *Client) waitOnce(ctx context.Context, id string, sub *subscriber) (Status, bool, error) {
	st, err := c.Status(ctx, id)
	if err != nil || st.State.Final() {
		return st, true, err
	}
	for {
		select {
		case <-ctx.Done():
			return st, true, ctx.Err()
		case e, ok := <-sub.ch:
			if !ok {
				return st, false, nil
			}
			if e.Subject == id && e.Final() {
				st, err := c.Status(ctx, id)
				return st, true, err
			}
		}
	}
}

// WaitFor is Wait bounded by d: the status when d passes is returned with
// final false.
func (c *Client) WaitFor(ctx context.Context, id string, d time.Duration) (st Status, final bool, err error) {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	st, err = c.Wait(wctx, id)
	if err == nil {
		return st, true, nil
	}
	if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed)) {
		st, err = c.Status(ctx, id)
		return st, false, err
	}
	return st, false, err
}

// The hub: one goroutine per Client, running while anyone reads, waits on
// the stream for news and hands each event to every subscriber.

const (
	hubBlock  = 2 * time.Second // one XREAD waits at most this long
	hubBuffer = 1024            // events a subscriber may be behind before it is let go
	hubRetry  = time.Second     // after Redis failed
)

type subscriber struct{ ch chan store.Event }

type hub struct {
	st      *store.Store
	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	last    string // the newest event handed out (or, when idle, seen)
	running bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func newHub(st *store.Store) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	return &hub{st: st, subs: map[*subscriber]struct{}{}, ctx: ctx, cancel: cancel}
}

// subscribe adds a subscriber and returns it with the id after which its
// feed starts.
func (h *hub) subscribe(ctx context.Context) (*subscriber, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx.Err() != nil {
		return nil, "", ErrClosed
	}
	if !h.running {
		last, err := h.st.LastEventID(ctx)
		if err != nil {
			return nil, "", err
		}
		h.last, h.running = last, true
		h.wg.Add(1)
		go h.run()
	}
	s := &subscriber{ch: make(chan store.Event, hubBuffer)}
	h.subs[s] = struct{}{}
	return s, h.last, nil
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

func (h *hub) run() {
	defer h.wg.Done()
	for {
		h.mu.Lock()
		if len(h.subs) == 0 || h.ctx.Err() != nil {
			h.running = false
			h.mu.Unlock()
			return
		}
		from := h.last
		h.mu.Unlock()
		evs, err := h.st.WaitEvents(h.ctx, from, hubBlock, 500)
		if err != nil {
			if h.ctx.Err() != nil {
				continue
			}
			t := time.NewTimer(hubRetry)
			select {
			case <-h.ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		h.mu.Lock()
		for _, e := range evs {
			h.last = e.ID
			for s := range h.subs {
				select {
				case s.ch <- e:
				default: // too far behind: let it go, it resumes after what it saw
					close(s.ch)
					delete(h.subs, s)
				}
			}
		}
		h.mu.Unlock()
	}
}

// close ends every feed (their Next says ErrClosed) and the reader.
func (h *hub) close() {
	h.mu.Lock()
	h.cancel()
	for s := range h.subs {
		close(s.ch)
		delete(h.subs, s)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// CloseFeeds ends every feed of the client (Follow, Events, Wait say
// ErrClosed) and no new one starts, while the rest of the client goes on
// working: a server calls it as it shuts down, so that its event streams
// end and its other calls may finish.
func (c *Client) CloseFeeds() { c.events.close() }

// TimelineEvent is one event of a request's timeline, and whether it went
// to the request's callback.
type TimelineEvent struct {
	Event
	Hooked bool
}

// Timeline returns the events of request st that the stream still holds,
// oldest first (at most 1000).
func (c *Client) Timeline(ctx context.Context, st Status) ([]TimelineEvent, error) {
	// Event ids are Redis's clock, records the writers': a minute either
	// side covers a clock skew between them.
	evs, err := c.events.st.EventsBetween(ctx, st.CreatedAt.Add(-time.Minute), st.UpdatedAt.Add(time.Minute), st.RequestID, 1000)
	if err != nil {
		return nil, unavailable(err, leftNothingRead)
	}
	out := make([]TimelineEvent, len(evs))
	for i, e := range evs {
		out[i] = TimelineEvent{Event: e.CloudEvent, Hooked: e.Hook != ""}
	}
	return out, nil
}
