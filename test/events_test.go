package test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/internal/redisconn"
	"github.com/noderemover/noderemover/removal"
)

// checkEventsAtEnd holds the event stream of the Redis at redisURL to the
// records when the test ends, after its workers stopped: every change of
// state of a request or node has exactly one event, and every event its
// change. For each request: its request events start at queued and each
// is a move the lifecycle allows to another state (a repeated or missing
// event shows as a state twice in a row or a move that cannot happen), and
// the last is the state its record is in; for each node, its events never
// repeat a state and the last is the node's state (none: still pending).
// Every end-to-end test that runs workers calls it.
func checkEventsAtEnd(tb testing.TB, redisURL string) {
	tb.Cleanup(func() {
		if tb.Failed() {
			return // a failure says enough; a half-run test's stream would only add noise
		}
		target, err := config.ParseRedisURL(redisURL)
		if err != nil {
			tb.Fatal(err)
		}
		rdb := redisconn.New(target)
		defer rdb.Close()
		for _, problem := range eventProblems(context.Background(), rdb) {
			tb.Error(problem)
		}
	})
}

// eventProblems compares the stream with the records.
func eventProblems(ctx context.Context, rdb redis.UniversalClient) []string {
	ids, err := rdb.ZRange(ctx, "{noderemover}:requests", 0, -1).Result()
	if err != nil {
		return []string{"read the request index: " + err.Error()}
	}
	msgs, err := rdb.XRange(ctx, "{noderemover}:events", "-", "+").Result()
	if err != nil {
		return []string{"read the event stream: " + err.Error()}
	}
	type history struct {
		states []removal.State
		nodes  map[string][]removal.NodeState
	}
	hist := map[string]*history{}
	for _, m := range msgs {
		raw, _ := m.Values["event"].(string)
		var e removal.CloudEvent
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return []string{fmt.Sprintf("event %s is not JSON: %v", m.ID, err)}
		}
		if e.Subject == "" {
			continue // not a request's (a loss of Redis's data)
		}
		h := hist[e.Subject]
		if h == nil {
			h = &history{nodes: map[string][]removal.NodeState{}}
			hist[e.Subject] = h
		}
		switch {
		case e.Type == removal.DiscardedEventType:
			h.states = append(h.states, "discarded")
		case e.Node != "":
			h.nodes[e.Node] = append(h.nodes[e.Node], removal.NodeState(strings.TrimPrefix(e.Type, removal.EventTypePrefix+"node.")))
		default:
			h.states = append(h.states, e.RequestState())
		}
	}
	var problems []string
	bad := func(id, format string, args ...any) {
		problems = append(problems, "request "+id+": "+fmt.Sprintf(format, args...))
	}
	for _, id := range ids {
		raw, err := rdb.Get(ctx, "{noderemover}:request:"+id).Result()
		if err != nil {
			continue // expired or discarded
		}
		var r removal.Record
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			bad(id, "record is not JSON: %v", err)
			continue
		}
		h := hist[id]
		delete(hist, id)
		if h == nil || len(h.states) == 0 {
			bad(id, "is %s with no event", r.State)
			continue
		}
		if h.states[0] != removal.StateQueued {
			bad(id, "first event says %s, not queued", h.states[0])
		}
		for i := 1; i < len(h.states); i++ {
			if from, to := h.states[i-1], h.states[i]; !removal.MayMove(from, to) {
				bad(id, "events say %s then %s: a repeated, missing or impossible event (all: %v)", from, to, h.states)
			}
		}
		if last := h.states[len(h.states)-1]; last != r.State {
			bad(id, "last event says %s, the record %s (events %v)", last, r.State, h.states)
		}
		for _, n := range r.Nodes {
			evs := h.nodes[n.UID]
			delete(h.nodes, n.UID)
			for i := 1; i < len(evs); i++ {
				if evs[i] == evs[i-1] {
					bad(id, "node %s: two events say %s in a row (%v)", n.UID, evs[i], evs)
				}
			}
			switch {
			case len(evs) == 0 && n.State != removal.NodePending:
				bad(id, "node %s is %s with no event", n.UID, n.State)
			case len(evs) > 0 && evs[len(evs)-1] != n.State:
				bad(id, "node %s: last event says %s, the record %s (%v)", n.UID, evs[len(evs)-1], n.State, evs)
			}
		}
		for uid := range h.nodes {
			bad(id, "events of node %s, which the request does not have", uid)
		}
	}
	for id, h := range hist {
		if len(h.states) > 0 && h.states[len(h.states)-1] == "discarded" {
			continue // undone at its enqueue: no record, and the event says so
		}
		bad(id, "has events %v but no record", h.states)
	}
	return problems
}
