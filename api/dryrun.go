package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/noderemover/noderemover/enqueuer"
)

// defaultDryRunTimeout bounds how long POST /v1/removals?dry_run=true waits
// for a worker's answer (Options.DryRunTimeout).
const defaultDryRunTimeout = 20 * time.Second

// dryRunParam reads the only query parameter of POST /v1/removals.
func dryRunParam(r *http.Request) (bool, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return false, invalidInput("the query string is malformed: %v", err)
	}
	if err := onlyParams(q, "dry_run"); err != nil {
		return false, err
	}
	if !q.Has("dry_run") {
		return false, nil
	}
	v, err := strconv.ParseBool(q.Get("dry_run"))
	if err != nil || len(q["dry_run"]) > 1 {
		return false, &enqueuer.InvalidError{Field: "dry_run", Problem: "is true or false, once"}
	}
	return v, nil
}

// dryRun answers POST /v1/removals?dry_run=true: 200 with what would
// happen, ok or not; nothing is stored. No worker answering in time is 503.
func (s *server) dryRun(w http.ResponseWriter, r *http.Request, req enqueuer.Prepared) {
	ctx, cancel := context.WithTimeout(r.Context(), s.dryRunTimeout)
	defer cancel()
	d, err := s.c.PreflightPrepared(ctx, req)
	if errors.Is(err, enqueuer.ErrNoWorker) {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		writeProblem(w, r, problem{Type: typeNoWorker, Title: "No worker answered", Status: http.StatusServiceUnavailable,
			Detail: "no worker answered the dry run within " + s.dryRunTimeout.String() + ": is a worker running? Nothing was stored."})
		return
	}
	if err != nil {
		s.fail(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
