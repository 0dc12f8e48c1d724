package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/removal"
)

// eventsKey is the stream of every published event (removal.EventsOf): one
// entry per change of state of a request or node, appended by the plan that
// makes the change. Entry fields: subject (the request id), cluster
// ("<project>/<cluster>"), hook (the callback URL it goes to, "" for none)
// and event (the CloudEvent as JSON, without its id: the entry's id is it).
const eventsKey = keyPrefix + "events"

// hooksKey is the stream of the events that go to a callback, appended
// with each (fields: id, the event's id in eventsKey; subject; hook; event),
// so that the workers handing them to delivery tasks read only those.
const hooksKey = keyPrefix + "hooks"

// hookGroup is the consumer group of the workers that hand events marked
// for a callback to delivery tasks.
const hookGroup = "webhooks"

// DefaultEventsMaxLen is how many events the stream keeps by default
// (EVENTS_MAX_LEN); trimming is approximate, as Redis does it cheaply.
const DefaultEventsMaxLen = 100_000

// Event is one event read from the stream.
type Event struct {
	removal.CloudEvent
	// ClusterKey is "<project>/<cluster>" of its request.
	ClusterKey string `json:"-"`
	// Hook is the callback URL the event goes to, "" for none.
	Hook string `json:"-"`
	// entry is its id in the hooks stream (events read for a callback).
	entry string
}

// ClusterOf is the ClusterKey of a cluster.
func ClusterOf(project, cluster string) string { return project + "/" + cluster }

// putEvents adds to p the events of r's change from before.
func (s *Store) putEvents(p *plan, before removal.Shape, r *removal.Record) error {
	evs, err := removal.EventsOf(before, r)
	if err != nil {
		return err
	}
	for _, e := range evs {
		raw, err := json.Marshal(e.Event)
		if err != nil {
			return fmt.Errorf("encode event of request %s: %w", r.RequestID, err)
		}
		p.xadd(eventsKey, s.eventsMaxLen, r.RequestID, ClusterOf(r.ProjectID, r.ClusterID), e.Hook, string(raw))
		if e.Hook != "" {
			p.xhook(hooksKey, s.eventsMaxLen, r.RequestID, e.Hook, string(raw))
		}
	}
	return nil
}

// eventOf reads a stream entry.
func eventOf(m redis.XMessage) (Event, error) {
	e := Event{}
	raw, _ := m.Values["event"].(string)
	if err := json.Unmarshal([]byte(raw), &e.CloudEvent); err != nil {
		return Event{}, &CorruptError{Key: eventsKey + " " + m.ID, Err: err}
	}
	e.ID = m.ID
	e.ClusterKey, _ = m.Values["cluster"].(string)
	e.Hook, _ = m.Values["hook"].(string)
	return e, nil
}

func (s *Store) eventsOf(msgs []redis.XMessage) []Event {
	out := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		e, err := eventOf(m)
		if err != nil {
			s.corrupt(eventsKey, err)
			continue
		}
		out = append(out, e)
	}
	return out
}

// EventsAfter returns up to count events after id ("" or "0": from the
// first kept), oldest first, without waiting.
func (s *Store) EventsAfter(ctx context.Context, id string, count int64) ([]Event, error) {
	start := "-"
	if id != "" && id != "0" {
		start = "(" + id
	}
	msgs, err := s.rdb.XRangeN(ctx, eventsKey, start, "+", count).Result()
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return s.eventsOf(msgs), nil
}

// EventsBetween returns the events appended between from and to (by the
// stream's ids, which are Redis's clock in milliseconds), oldest first, at
// most count of them, of request subject only when it is not "".
func (s *Store) EventsBetween(ctx context.Context, from, to time.Time, subject string, count int) ([]Event, error) {
	start, end := fmt.Sprint(from.UnixMilli()), fmt.Sprint(to.UnixMilli())
	var out []Event
	for len(out) < count {
		msgs, err := s.rdb.XRangeN(ctx, eventsKey, start, end, 500).Result()
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		for _, e := range s.eventsOf(msgs) {
			if subject == "" || e.Subject == subject {
				out = append(out, e)
			}
		}
		if len(msgs) < 500 {
			break
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
	if len(out) > count {
		out = out[:count]
	}
	return out, nil
}

// WaitEvents returns the events after id, waiting up to block for one when
// there is none yet (nil then). It holds one connection while it waits.
func (s *Store) WaitEvents(ctx context.Context, id string, block time.Duration, count int64) ([]Event, error) {
	res, err := s.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{eventsKey, id}, Count: count, Block: block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wait for events: %w", err)
	}
	if len(res) == 0 {
		return nil, nil
	}
	return s.eventsOf(res[0].Messages), nil
}

// LastEventID is the id of the newest event, "0-0" when there is none.
func (s *Store) LastEventID(ctx context.Context) (string, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, eventsKey, "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("read the last event: %w", err)
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

// FirstEventID is the id of the oldest event kept, "" when there is none:
// a reader resuming after an older id missed what was trimmed.
func (s *Store) FirstEventID(ctx context.Context) (string, error) {
	msgs, err := s.rdb.XRangeN(ctx, eventsKey, "-", "+", 1).Result()
	if err != nil {
		return "", fmt.Errorf("read the first event: %w", err)
	}
	if len(msgs) == 0 {
		return "", nil
	}
	return msgs[0].ID, nil
}

// Handing events to their callbacks. Every worker reads the stream in one
// consumer group: an entry read is pending for the reader until it acks it,
// and one a dead reader never acked is claimed by another after a while.

// JoinHooks makes sure the webhooks consumer group exists, reading from the
// stream's start: an event published before any worker ran still goes out.
func (s *Store) JoinHooks(ctx context.Context) error {
	err := s.rdb.XGroupCreateMkStream(ctx, hooksKey, hookGroup, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create the webhooks consumer group: %w", err)
	}
	return nil
}

// NextHooks returns events not yet handed to anyone, for consumer, waiting
// up to block for some. Events without a hook are acked at once and left
// out. A missing group (Redis lost its data) is made again.
func (s *Store) NextHooks(ctx context.Context, consumer string, block time.Duration, count int64) ([]Event, error) {
	res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: hookGroup, Consumer: consumer, Streams: []string{hooksKey, ">"}, Count: count, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
		return nil, s.JoinHooks(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("read events for webhooks: %w", err)
	}
	if len(res) == 0 {
		return nil, nil
	}
	return s.withHooks(ctx, res[0].Messages)
}

// StaleHooks claims, for consumer, events another consumer read but did not
// ack within idle (it died while handing them on).
func (s *Store) StaleHooks(ctx context.Context, consumer string, idle time.Duration, count int64) ([]Event, error) {
	msgs, _, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: hooksKey, Group: hookGroup, Consumer: consumer, MinIdle: idle, Start: "0-0", Count: count,
	}).Result()
	if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
		return nil, s.JoinHooks(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("claim stale webhook events: %w", err)
	}
	return s.withHooks(ctx, msgs)
}

// withHooks reads the entries of msgs, acking at once those that cannot be
// read (trimmed ones come back without fields).
func (s *Store) withHooks(ctx context.Context, msgs []redis.XMessage) ([]Event, error) {
	var done []string
	var out []Event
	for _, m := range msgs {
		e, err := eventOf(m)
		id, _ := m.Values["id"].(string)
		if err != nil || id == "" || e.Hook == "" {
			if err != nil {
				s.corrupt(hooksKey, err)
			}
			done = append(done, m.ID)
			continue
		}
		e.ID, e.entry = id, m.ID
		out = append(out, e)
	}
	if err := s.ackEntries(ctx, done...); err != nil {
		return nil, err
	}
	return out, nil
}

// AckHooks notes that events evs (as NextHooks or StaleHooks gave them)
// were handed on.
func (s *Store) AckHooks(ctx context.Context, evs ...Event) error {
	ids := make([]string, 0, len(evs))
	for _, e := range evs {
		ids = append(ids, e.entry)
	}
	return s.ackEntries(ctx, ids...)
}

func (s *Store) ackEntries(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.rdb.XAck(ctx, hooksKey, hookGroup, ids...).Err(); err != nil {
		return fmt.Errorf("ack webhook events: %w", err)
	}
	return nil
}

// PublishDataLoss appends the event of a loss of Redis's data (type
// removal.DataLostEventType, no subject: it is no request's), so that a
// reader of the stream hears of it too.
func (s *Store) PublishDataLoss(ctx context.Context, loss DataLoss) error {
	data, err := json.Marshal(loss)
	if err != nil {
		return err
	}
	e := removal.CloudEvent{SpecVersion: "1.0", Source: "/noderemover", Type: removal.DataLostEventType,
		Time: s.now(), DataContentType: "application/json", Data: data}
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	err = s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: eventsKey, MaxLen: s.eventsMaxLen, Approx: true,
		Values: []any{"subject", "", "cluster", "", "hook", "", "event", string(raw)}}).Err()
	if err != nil {
		return fmt.Errorf("publish the loss of Redis's data: %w", err)
	}
	return nil
}
