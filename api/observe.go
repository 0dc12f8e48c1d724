package api

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/internal/health"
)

// requestIDHeader carries the id of one HTTP exchange, taken from the
// caller when it is well formed and made up otherwise; every log line of the
// exchange carries it as http_request_id.
const requestIDHeader = "X-Request-Id"

var callerRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// exchange is what the middleware and the handlers of one request share.
type exchange struct {
	log zerolog.Logger // with http_request_id
	// requestID is the removal request the call is about, once known; the
	// access line carries it as request_id.
	requestID string
}

type exchangeKey struct{}

// exchangeOf returns the exchange of r (one with the server's logger for a
// request that did not pass observe, as in a test of a single handler).
func (s *server) exchangeOf(r *http.Request) *exchange {
	if x, ok := r.Context().Value(exchangeKey{}).(*exchange); ok {
		return x
	}
	return &exchange{log: s.log}
}

// recorder remembers what a handler answered, for the access line and for
// the recovery of a panic.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(p)
	rec.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// observe gives each request an id, recovers a panicking handler into a 500
// problem, and logs one access line per request. It logs neither headers,
// bodies nor query strings: the Authorization header, a request's password
// and a token someone put in a query stay out of the logs.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(requestIDHeader)
		if !callerRequestID.MatchString(id) {
			id = uuid.NewString()
		}
		w.Header().Set(requestIDHeader, id)
		w.Header().Set("X-Content-Type-Options", "nosniff") // every answer, not only problems
		x := &exchange{log: s.log.With().Str("http_request_id", id).Logger()}
		r = r.WithContext(context.WithValue(r.Context(), exchangeKey{}, x))
		rec := &recorder{ResponseWriter: w}
		defer func() {
			level := zerolog.InfoLevel
			if r.URL.Path == health.LivePath || r.URL.Path == health.ReadyPath {
				level = zerolog.DebugLevel // probes come every few seconds
			}
			// The path only: a query string is the caller's to fill, and a
			// token put there must not reach the logs.
			ev := x.log.WithLevel(level).Str("method", r.Method).Str("path", r.URL.Path)
			if x.requestID != "" {
				ev = ev.Str("request_id", x.requestID)
			}
			ev.Int("status", rec.status).Int64("bytes", rec.bytes).
				Float64("duration_ms", float64(time.Since(start).Microseconds())/1000).
				Str("remote", r.RemoteAddr).Msg("http request")
		}()
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { // net/http's own way to abort a response
				rec.status = 0 // net/http aborts the response; no status was sent
				panic(v)
			}
			x.log.Error().Str("panic", fmt.Sprint(v)).Bytes("stack", debug.Stack()).
				Str("method", r.Method).Str("path", r.URL.Path).Msg("handler panicked; answered 500")
			if rec.status != 0 {
				return // the answer has begun; nothing better can be sent
			}
			writeProblem(rec, r, problem{Type: typeInternal, Title: "Internal server error", Status: http.StatusInternalServerError,
				Detail: "the server failed to handle the request; it is logged under " + requestIDHeader + " " + id})
		}()
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK // a handler that wrote nothing answered 200
		}
	})
}
