package removal

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The events noderemover publishes: one per change of state of a request or
// of one of its nodes, in CloudEvents 1.0 form. The store appends them to a
// Redis Stream in the same plan as the record change they tell of, so there
// is no change without its event and no event without its change.

// EventTypePrefix starts every event type; the state follows
// ("dev.noderemover.request.succeeded", "dev.noderemover.node.drained").
const EventTypePrefix = "dev.noderemover."

// RequestEventType is the type of the event of a request entering state s.
func RequestEventType(s State) string { return EventTypePrefix + "request." + string(s) }

// DiscardedEventType is the type of the event of a request undone at its
// enqueue (its task could not be queued): its record is gone.
const DiscardedEventType = EventTypePrefix + "request.discarded"

// DiscardEvent is the event of r's discard.
func DiscardEvent(r *Record, now time.Time) (*CloudEvent, error) {
	raw, err := json.Marshal(r.Status())
	if err != nil {
		return nil, fmt.Errorf("encode event of request %s: %w", r.RequestID, err)
	}
	return &CloudEvent{SpecVersion: "1.0", Source: EventSource(r.ProjectID, r.ClusterID), Type: DiscardedEventType,
		Subject: r.RequestID, Time: now, DataContentType: "application/json", Data: raw}, nil
}

// DataLostEventType is the type of the event a worker publishes when it
// noticed that Redis lost its data (see the worker's redis_loss.go).
const DataLostEventType = EventTypePrefix + "redis.data_lost"

// NodeEventType is the type of the event of a node entering state s.
func NodeEventType(s NodeState) string { return EventTypePrefix + "node." + string(s) }

// CloudEvent is one published event in the CloudEvents 1.0 JSON format. ID is
// its place in the stream ("1733112000000-0"): ids increase, and a reader
// resumes after the last one it saw.
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"` // the request id
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	// Node is the node's uid in a node event (a CloudEvents extension
	// attribute, lower-case letters as the spec wants).
	Node string          `json:"node,omitempty"`
	Data json.RawMessage `json:"data"`
}

// Final reports whether the event is the one that ends its request (a
// discard ends it too: its record is gone).
func (e *CloudEvent) Final() bool {
	s, ok := strings.CutPrefix(e.Type, EventTypePrefix+"request.")
	return ok && (State(s).Final() || e.Type == DiscardedEventType)
}

// RequestState is the state a request event tells of ("" for a node event).
func (e *CloudEvent) RequestState() State {
	s, _ := strings.CutPrefix(e.Type, EventTypePrefix+"request.")
	if s == e.Type {
		return ""
	}
	return State(s)
}

// NodeEvent is the data of a node event: the node and the request it is in
// (the whole status only travels with request events, so a request of 200
// nodes does not publish 200 copies of itself).
type NodeEvent struct {
	RequestID    string `json:"request_id"`
	ProjectID    string `json:"project_id"`
	ClusterID    string `json:"cluster_id"`
	RequestState State  `json:"request_state"`
	Node         Node   `json:"node"`
}

// EventSource is the CloudEvents source of a cluster's events.
func EventSource(project, cluster string) string {
	return "/projects/" + project + "/clusters/" + cluster
}

// Shape is what of a record its events are decided from: the request's
// state and each node's, in the record's order.
type Shape struct {
	State State
	Nodes []NodeState
}

// Shape returns the record's shape; a request not yet created has the zero
// Shape.
func (r *Record) Shape() Shape {
	s := Shape{State: r.State, Nodes: make([]NodeState, len(r.Nodes))}
	for i, n := range r.Nodes {
		s.Nodes[i] = n.State
	}
	return s
}

// Published is an event as the store appends it: everything but its id,
// which the stream gives it, and whether it goes to the request's callback.
type Published struct {
	Event *CloudEvent
	Hook  string // the callback URL it is delivered to, "" for none
}

// EventsOf returns the events of r's change from before (the zero Shape for
// a request just created): one per node whose state changed, in the record's
// order, then one for the request when its state changed. Each is marked for
// r's callback when the callback asked for it.
func EventsOf(before Shape, r *Record) ([]Published, error) {
	var out []Published
	add := func(typ, node string, data any) error {
		raw, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("encode event of request %s: %w", r.RequestID, err)
		}
		e := &CloudEvent{
			SpecVersion: "1.0", Source: EventSource(r.ProjectID, r.ClusterID), Type: typ,
			Subject: r.RequestID, Time: r.UpdatedAt, DataContentType: "application/json", Node: node, Data: raw,
		}
		out = append(out, Published{Event: e, Hook: r.Callback.hookFor(e)})
		return nil
	}
	if before.State != "" { // a new request's nodes are all pending: only the request's event
		for i, n := range r.Nodes {
			if i < len(before.Nodes) && before.Nodes[i] == n.State {
				continue
			}
			d := NodeEvent{RequestID: r.RequestID, ProjectID: r.ProjectID, ClusterID: r.ClusterID, RequestState: r.State, Node: n.clone()}
			if err := add(NodeEventType(n.State), n.UID, d); err != nil {
				return nil, err
			}
		}
	}
	if before.State != r.State {
		if err := add(RequestEventType(r.State), "", r.Status()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CompareEventIDs orders two stream ids ("<ms>-<seq>"): -1, 0 or 1. An id
// that is not one sorts first.
func CompareEventIDs(a, b string) int {
	am, as := splitEventID(a)
	bm, bs := splitEventID(b)
	switch {
	case am != bm:
		return cmpUint(am, bm)
	default:
		return cmpUint(as, bs)
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func splitEventID(id string) (ms, seq uint64) {
	m, s, ok := strings.Cut(id, "-")
	ms, err := strconv.ParseUint(m, 10, 64)
	if err != nil {
		return 0, 0
	}
	if ok {
		seq, _ = strconv.ParseUint(s, 10, 64)
	}
	return ms, seq
}

// ValidEventID reports whether id is a stream id a reader may resume after.
func ValidEventID(id string) error {
	m, s, ok := strings.Cut(id, "-")
	if _, err := strconv.ParseUint(m, 10, 64); err != nil || !ok {
		return fmt.Errorf("event id %q is not <milliseconds>-<sequence>", SafeFieldName(id))
	}
	if _, err := strconv.ParseUint(s, 10, 64); err != nil {
		return fmt.Errorf("event id %q is not <milliseconds>-<sequence>", SafeFieldName(id))
	}
	return nil
}
