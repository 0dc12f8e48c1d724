package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/httpserver"
)

// callTimeout bounds the Redis work of one call. It stays below the server's
// WriteTimeout so that a 503 can still be sent when Redis hangs.
const callTimeout = 10 * time.Second

// listBody is the answer of GET /v1/removals.
type listBody struct {
	Removals []enqueuer.Status `json:"removals"`
	// NextBefore, on a full page, is the before= of the next (older) page,
	// which may be empty.
	NextBefore string `json:"next_before,omitempty"`
}

// create is POST /v1/removals: validate, then enqueue. A new request is 202
// (queued, nothing done yet); a request id that exists with the same
// content is 200 with its current status, so a producer may repeat a POST
// whose answer it lost. Location names the request either way.
func (s *server) create(w http.ResponseWriter, r *http.Request) {
	x := s.exchangeOf(r)
	dryRun, err := dryRunParam(r)
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	in, err := readRequest(w, r)
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	// Everything is checked (and the password hashed) before Redis is
	// touched. The id Prepare makes for an unnamed request is the one
	// enqueued.
	req, err := s.c.Prepare(in)
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	if dryRun {
		s.dryRun(w, r, req)
		return
	}
	// A problem names the request only when the caller named it: an id made
	// here for a request that was refused names nothing.
	named, id := in.ID != "", ""
	if named {
		id = req.ID
	}
	in.ID, x.requestID = req.ID, req.ID

	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	st, created, err := s.c.EnqueuePrepared(ctx, req)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	w.Header().Set("Location", removalsPath+"/"+url.PathEscape(st.RequestID))
	code := http.StatusAccepted
	if !created {
		code = http.StatusOK
	}
	writeJSON(w, code, st)
}

// get is GET /v1/removals/{id}; with ?wait=30s it answers when the request
// is final, or when the wait is over with the status then.
func (s *server) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	wait, err := waitParam(r)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	s.noteRequest(r, id)
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout+wait)
	defer cancel()
	var st enqueuer.Status
	if wait > 0 {
		_ = httpserver.Stream(w) // the answer may take longer than a read timeout; ctx bounds it
		st, _, err = s.c.WaitFor(ctx, id, wait)
	} else {
		st, err = s.c.Status(ctx, id)
	}
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// cancel is DELETE /v1/removals/{id}: a request not yet sent to CCE ends
// cancelled (again: cancelling twice is harmless); one CCE accepted is 409.
func (s *server) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := checkQuery(r); err != nil {
		s.fail(w, r, id, err)
		return
	}
	s.noteRequest(r, id)
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	st, err := s.c.Cancel(ctx, id)
	if err != nil && st.RequestID != "" {
		// Cancelled, but its task could not be deleted: the worker skips a
		// task whose request is cancelled, so the answer stands.
		s.exchangeOf(r).log.Warn().Err(err).Str("request_id", id).Msg("request cancelled; its task stays queued and will be skipped")
		err = nil
	}
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// listParams are the query parameters of GET /v1/removals.
var listParams = []string{"state", "cluster_id", "limit", "before"}

// list is GET /v1/removals: the newest requests first, filtered.
func (s *server) list(w http.ResponseWriter, r *http.Request) {
	f, err := listFilter(r)
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	all, err := s.c.List(ctx, f)
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	body := listBody{Removals: all}
	if all == nil {
		body.Removals = []enqueuer.Status{} // [] rather than null
	}
	if len(all) == f.Limit {
		body.NextBefore = all[len(all)-1].RequestID
	}
	writeJSON(w, http.StatusOK, body)
}

// listFilter reads the query of a list call; a bad or unknown parameter is
// an error naming it.
func listFilter(r *http.Request) (enqueuer.ListFilter, error) {
	f := enqueuer.ListFilter{Limit: enqueuer.DefaultListLimit}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return f, invalidInput("the query string is malformed: %v", err)
	}
	if err := onlyParams(q, listParams...); err != nil {
		return f, err
	}
	if v, ok, err := queryValue(q, "state"); err != nil {
		return f, err
	} else if ok {
		if !enqueuer.ValidState(enqueuer.State(v)) {
			return f, &enqueuer.InvalidError{Field: "state",
				Problem: fmt.Sprintf("%q is not one of queued, draining, submitting, polling, succeeded, failed, cancelled", v)}
		}
		f.State = enqueuer.State(v)
	}
	if v, ok, err := queryValue(q, "cluster_id"); err != nil {
		return f, err
	} else if ok {
		f.ClusterID = v
	}
	if v, ok, err := queryValue(q, "limit"); err != nil {
		return f, err
	} else if ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > enqueuer.MaxListLimit {
			return f, &enqueuer.InvalidError{Field: "limit", Problem: fmt.Sprintf("%q is not a whole number from 1 to %d", v, enqueuer.MaxListLimit)}
		}
		f.Limit = n
	}
	if v, ok, err := queryValue(q, "before"); err != nil {
		return f, err
	} else if ok {
		f.Before = v
	}
	return f, nil
}

// checkQuery refuses query parameters where an operation takes none.
func checkQuery(r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return invalidInput("the query string is malformed: %v", err)
	}
	return onlyParams(q)
}

// noteRequest puts a well-formed request id from the path on the access line.
func (s *server) noteRequest(r *http.Request, id string) {
	if enqueuer.ValidRequestID(id) == nil {
		s.exchangeOf(r).requestID = id
	}
}

// writeJSON sends v as the JSON answer. Statuses change, so nothing is cached.
func writeJSON(w http.ResponseWriter, code int, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode answer: %v", err)) // our own types always encode; observe answers 500
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(raw, '\n'))
}
