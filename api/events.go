package api

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/sse"
)

// eventsPath streams events as Server-Sent Events.
const eventsPath = "/v1/events"

// eventsParams are the query parameters of GET /v1/events.
var eventsParams = []string{"request_id", "cluster_id", "after"}

// maxEventRequests bounds the request ids one stream follows.
const maxEventRequests = 100

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
	feed, err := s.c.Follow(r.Context(), f)
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	defer feed.Close()
	sse.Serve(w, r, feed, true, func(err error) {
		s.exchangeOf(r).log.Warn().Err(err).Msg("event stream ended")
	})
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
