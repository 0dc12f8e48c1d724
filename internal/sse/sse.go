// Package sse writes a feed of events as Server-Sent Events: the API's
// GET /v1/events and the dashboard's live pages.
package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/httpserver"
)

// Heartbeat is how often an idle stream sends a comment, so that its
// connection (and proxies on the way) stay open.
const Heartbeat = 15 * time.Second

// Serve streams feed's events until the client goes away: each with its id
// (a reconnecting EventSource sends it back as Last-Event-ID), its type as
// the event name when named (else every event is a "message"), and the
// CloudEvent JSON as data. A feed that fails ends the stream with an
// "error" event, and is logged.
func Serve(w http.ResponseWriter, r *http.Request, feed *enqueuer.Feed, named bool, logged func(error)) {
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
		ctx, cancel := context.WithTimeout(r.Context(), Heartbeat)
		e, err := feed.Next(ctx)
		cancel()
		switch {
		case r.Context().Err() != nil:
			return // the client went away
		case errors.Is(err, context.DeadlineExceeded):
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			_ = rc.Flush()
			continue
		case err != nil:
			msg, _ := json.Marshal(map[string]string{"error": err.Error()})
			_, _ = fmt.Fprintf(w, "event: error\ndata: %s\n\n", msg)
			_ = rc.Flush()
			logged(err)
			return
		}
		raw, err := json.Marshal(e)
		if err != nil {
			continue // our own type always encodes
		}
		name := ""
		if named {
			name = "event: " + e.Type + "\n"
		}
		if _, err := fmt.Fprintf(w, "id: %s\n%sdata: %s\n\n", e.ID, name, raw); err != nil {
			return
		}
		_ = rc.Flush()
	}
}
