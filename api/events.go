package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/httpserver"
)

// eventsPath streams events as Server-Sent Events.
const eventsPath = "/v1/events"

// eventsParams are the query parameters of GET /v1/events.
var eventsParams = []string{"request_id", "cluster_id", "after"}

// maxEventRequests bounds the request ids one stream follows.
const maxEventRequests = 100

// heartbeat keeps an idle stream's connection (and proxies on the way)
// from closing it.
const heartbeat = 15 * time.Second

// eventsFilter reads the query of GET /v1/events and its Last-Event-ID.
func eventsFilter(r *http.Request) (enqueuer.EventFilter, error) {
	var f enqueuer.EventFilter
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return f, invalidInput("the query string is malformed: %v", err)
	}
	if err := onlyParams(q, eventsParams...); err != nil {
		return f, err
	}
	f.RequestIDs = q["request_id"]
	if len(f.RequestIDs) > maxEventRequests {
		return f, &enqueuer.InvalidError{Field: "request_id", Problem: fmt.Sprintf("%d given; at most %d", len(f.RequestIDs), maxEventRequests)}
	}
	if v, ok, err := queryValue(q, "cluster_id"); err != nil {
		return f, err
	} else if ok {
		f.ClusterID = v
	}
	if v, ok, err := queryValue(q, "after"); err != nil {
		return f, err
	} else if ok {
		f.After = v
	}
	// A reconnecting EventSource sends the last id it saw: it wins.
	if ids := r.Header.Values("Last-Event-ID"); len(ids) > 0 {
		if len(ids) > 1 {
			return f, invalidInput("Last-Event-ID is given %d times", len(ids))
		}
		f.After = ids[0]
	}
	return f, f.Validate()
}

// events is GET /v1/events: every event the filter keeps, as it happens,
// as Server-Sent Events (id, event: the type, data: the CloudEvent). A
// client resumes with Last-Event-ID (or ?after=) without a gap or a repeat.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	f, err := eventsFilter(r)
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	err = ServeEvents(w, r, s.c, f, func(err error) {
		s.exchangeOf(r).log.Warn().Err(err).Msg("event stream ended")
	})
	if err != nil {
		s.fail(w, r, "", err)
	}
}

// ServeEvents streams what c.Follow gives for f as Server-Sent Events until
// the client goes away; a stream that ends for another reason tells the
// client (an "error" event) and logged. The dashboard's live page uses it.
func ServeEvents(w http.ResponseWriter, r *http.Request, c *enqueuer.Client, f enqueuer.EventFilter, logged func(error)) error {
	feed, err := c.Follow(r.Context(), f)
	if err != nil {
		return err // nothing written yet: the caller answers with a problem
	}
	defer feed.Close()
	_ = httpserver.Stream(w) // a stream lives long: no read or write deadline
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, "retry: 2000\n\n")
	_ = rc.Flush()
	for {
		ctx, cancel := context.WithTimeout(r.Context(), heartbeat)
		e, err := feed.Next(ctx)
		cancel()
		switch {
		case r.Context().Err() != nil:
			return nil // the client went away
		case errors.Is(err, context.DeadlineExceeded):
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			_ = rc.Flush()
			continue
		case err != nil:
			msg, _ := json.Marshal(map[string]string{"error": err.Error()})
			_, _ = fmt.Fprintf(w, "event: error\ndata: %s\n\n", msg)
			_ = rc.Flush()
			logged(err)
			return nil
		}
		raw, err := json.Marshal(e)
		if err != nil {
			continue // our own type always encodes
		}
		if _, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Type, raw); err != nil {
			return nil
		}
		_ = rc.Flush()
	}
}

// waitParam reads ?wait= of GET /v1/removals/{id}: how long to hold the
// answer while the request is open (at most maxWait), 0 without it.
func waitParam(r *http.Request) (time.Duration, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return 0, invalidInput("the query string is malformed: %v", err)
	}
	if err := onlyParams(q, "wait"); err != nil {
		return 0, err
	}
	v, ok, err := queryValue(q, "wait")
	if err != nil || !ok {
		return 0, err
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > maxWait {
		return 0, &enqueuer.InvalidError{Field: "wait", Problem: fmt.Sprintf("%q is not a duration from 1ms to 60s (e.g. 30s)", v)}
	}
	return d, nil
}

// maxWait bounds a long poll, well inside common proxies' idle timeouts.
const maxWait = 60 * time.Second
