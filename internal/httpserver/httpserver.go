// Package httpserver owns what every HTTP server of noderemover shares (the
// worker's metrics and probes, the API, the dashboard): one set of limits
// (timeouts, header and body sizes), the headers every answer carries, and
// the one way a long-lived response lifts the limits for itself.
//
// There is no server-wide WriteTimeout: Server-Sent Events and long polls
// answer for minutes, and a WriteTimeout would cut them. ReadTimeout does
// not: it bounds the headers and the body, and net/http clears the read
// deadline once the body is read. A handler that sets a write deadline of
// its own, or wants to be explicit that it streams, calls Stream, which
// lifts both deadlines for its response only
// (TestStreamOutlivesTheReadTimeout).
package httpserver

import (
	"errors"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Limits bound what one client can hold of a server.
type Limits struct {
	// ReadHeaderTimeout: a client gets this long to send its headers (slowloris).
	ReadHeaderTimeout time.Duration
	// ReadTimeout: headers and body, even on a slow link. A client that
	// promises a body and sends nothing is cut off after it.
	ReadTimeout time.Duration
	// IdleTimeout: how long a kept-alive connection may wait for its next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes: ample for a bearer token, basic auth and ordinary headers.
	MaxHeaderBytes int
	// MaxBodyBytes: every request body is cut off past it (http.MaxBytesReader).
	MaxBodyBytes int64
}

// Defaults are the limits of every server; HTTP_READ_TIMEOUT sets ReadTimeout.
var Defaults = Limits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       30 * time.Second,
	IdleTimeout:       120 * time.Second,
	MaxHeaderBytes:    64 << 10,
	MaxBodyBytes:      1 << 20,
}

// New returns an http.Server for h with the limits l (a zero field takes
// the default's); every answer carries X-Content-Type-Options: nosniff and
// Referrer-Policy: no-referrer, and every body is bounded. net/http's own
// complaints go to logger at warn. The caller listens, serves and shuts it down.
func New(h http.Handler, l Limits, logger zerolog.Logger) *http.Server {
	l = l.withDefaults()
	return &http.Server{
		Handler:           Handler(h, l.MaxBodyBytes),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          ErrorLog(logger),
	}
}

func (l Limits) withDefaults() Limits {
	d := Defaults
	if l.ReadHeaderTimeout > 0 {
		d.ReadHeaderTimeout = l.ReadHeaderTimeout
	}
	if l.ReadTimeout > 0 {
		d.ReadTimeout = l.ReadTimeout
	}
	if l.IdleTimeout > 0 {
		d.IdleTimeout = l.IdleTimeout
	}
	if l.MaxHeaderBytes > 0 {
		d.MaxHeaderBytes = l.MaxHeaderBytes
	}
	if l.MaxBodyBytes > 0 {
		d.MaxBodyBytes = l.MaxBodyBytes
	}
	if d.ReadHeaderTimeout > d.ReadTimeout {
		d.ReadHeaderTimeout = d.ReadTimeout
	}
	return d
}

// Handler bounds every body of h to maxBody bytes and sets the headers
// every answer carries. New applies it; it is exported for tests that serve
// a handler with httptest.
func Handler(h http.Handler, maxBody int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		h.ServeHTTP(w, r)
	})
}

// Stream lifts the read and write deadlines of w's connection for the
// rest of this response, for a handler that answers for longer than
// ReadTimeout (Server-Sent Events, a long poll). Call it before the first
// write; the handler then bounds its own life (its context, its own
// timer). The next request on the connection gets the server's limits again.
func Stream(w http.ResponseWriter) error {
	rc := http.NewResponseController(w)
	return errors.Join(rc.SetReadDeadline(time.Time{}), rc.SetWriteDeadline(time.Time{}))
}

// ErrorLog sends net/http's error lines (TLS handshakes, hijack misuse,
// panics it recovers itself) to zerolog at warn.
func ErrorLog(l zerolog.Logger) *log.Logger { return log.New(writer{l}, "", 0) }

type writer struct{ l zerolog.Logger }

func (w writer) Write(p []byte) (int, error) {
	w.l.Warn().Str("component", "http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// OneAuthorization reports whether r carries at most one Authorization
// header. Two would let a proxy and the server read different credentials.
func OneAuthorization(r *http.Request) bool { return len(r.Header.Values("Authorization")) <= 1 }
