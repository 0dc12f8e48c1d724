package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/testkit"
)

// sseEvent is one Server-Sent Event as read off the wire.
type sseEvent struct{ id, event, data string }

// sseStream is an open GET /v1/events.
type sseStream struct {
	resp   *http.Response
	cancel context.CancelFunc
	events chan sseEvent
}

// openEvents opens GET path (with query) with the given Last-Event-ID ("":
// none) and reads its events in the background.
func (h *harness) openEvents(t *testing.T, query, lastID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/v1/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	// The stream never ends by itself: check its head against the spec with
	// an empty body.
	h.spec.check(t, http.MethodGet, "/v1/events", &answer{status: resp.StatusCode, header: resp.Header})
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET /v1/events%s: %d", query, resp.StatusCode)
	}
	s := &sseStream{resp: resp, cancel: cancel, events: make(chan sseEvent, 100)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.data != "" {
					s.events <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data = line[6:]
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() {
	s.cancel()
	_ = s.resp.Body.Close()
}

// next returns the next event, failing the test after a while.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case e, ok := <-s.events:
		if !ok {
			t.Fatal("the event stream ended")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

// TestEventStreamResumesWithoutGapOrRepeat: a client that disconnects and
// reconnects with Last-Event-ID gets every event once, including those
// published while it was away.
func TestEventStreamResumesWithoutGapOrRepeat(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	post := func(i int) {
		h.mustPost(202, body(map[string]any{"request_id": fmt.Sprintf("sse-%d", i), "nodes": []string{uid(i)}}))
	}
	post(0)
	s := h.openEvents(t, "?after=0-0", "")
	var got []string
	var last string
	take := func(s *sseStream) {
		e := s.next(t)
		var ce map[string]any
		if err := json.Unmarshal([]byte(e.data), &ce); err != nil {
			t.Fatalf("data is not JSON: %v: %s", err, e.data)
		}
		if ce["id"] != e.id || ce["type"] != e.event || ce["specversion"] != "1.0" {
			t.Fatalf("event %+v", e)
		}
		got = append(got, ce["subject"].(string)+" "+strings.TrimPrefix(e.event, "dev.noderemover."))
		last = e.id
	}
	take(s)
	post(1)
	take(s)
	s.close()
	post(2) // while no one listens
	post(3)
	s = h.openEvents(t, "", last)
	take(s)
	take(s)
	post(4)
	take(s)
	want := []string{"sse-0 request.queued", "sse-1 request.queued", "sse-2 request.queued", "sse-3 request.queued", "sse-4 request.queued"}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	// Filtered by request: only its events.
	f := h.openEvents(t, "?request_id=sse-3&after=0-0", "")
	if e := f.next(t); !strings.Contains(e.data, `"subject":"sse-3"`) {
		t.Errorf("filtered stream gave %+v", e)
	}
	h.do(http.MethodDelete, "/v1/removals/sse-3", "")
	if e := f.next(t); e.event != "dev.noderemover.request.cancelled" {
		t.Errorf("filtered stream gave %+v", e)
	}
}

func TestEventStreamRefusesBadInput(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	wantProblem(t, h.do(http.MethodGet, "/v1/events?after=yesterday", ""), 400, "invalid-request", "after", "milliseconds")
	wantProblem(t, h.do(http.MethodGet, "/v1/events?cluster_id=no/slash", ""), 400, "invalid-request", "cluster_id", "")
	wantProblem(t, h.do(http.MethodGet, "/v1/events?since=1", ""), 400, "invalid-request", "since", "")
	wantProblem(t, h.do(http.MethodGet, "/v1/events", "", header("Last-Event-ID", "x")), 400, "invalid-request", "after", "")
	wantProblem(t, h.do(http.MethodGet, "/v1/events", "", noAuth), 401, "unauthorized", "", "")
}

// TestLongPoll: GET /v1/removals/{id}?wait= answers when the request ends,
// or with the open status when the wait is over.
func TestLongPoll(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.mustPost(202, body(map[string]any{"request_id": "lp-1"}))
	start := time.Now()
	a := h.do(http.MethodGet, "/v1/removals/lp-1?wait=200ms", "")
	if a.status != 200 || a.json(t)["state"] != "queued" || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("%s after %s", a, time.Since(start))
	}
	done := make(chan *answer, 1)
	go func() { done <- h.do(http.MethodGet, "/v1/removals/lp-1?wait=30s", "") }()
	// Cancel until the long poll has answered: the first cancel may come
	// before it reads the status, and then the poll answers at once.
	var got *answer
	testkit.WaitFor(t, 20*time.Second, "the long poll to answer", func() bool {
		select {
		case got = <-done:
			return true
		default:
			h.do(http.MethodDelete, "/v1/removals/lp-1", "")
			return false
		}
	})
	if got.status != 200 || got.json(t)["state"] != "cancelled" {
		t.Errorf("long poll answered %s", got)
	}
	wantProblem(t, h.do(http.MethodGet, "/v1/removals/lp-1?wait=2h", ""), 400, "invalid-request", "wait", "60s")
	wantProblem(t, h.do(http.MethodGet, "/v1/removals/lp-1?wait=soon", ""), 400, "invalid-request", "wait", "")
	wantProblem(t, h.do(http.MethodGet, "/v1/removals/unknown?wait=1s", ""), 404, "not-found", "", "")
}
