package api

import (
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Limits of the API's HTTP server. Every call is small and quick: a body of
// at most 1 MiB and one bounded round of Redis work (callTimeout).
const (
	// readHeaderTimeout: a client gets this long to send its headers
	// (slowloris).
	readHeaderTimeout = 5 * time.Second
	// readTimeout: headers and a body of up to 1 MiB, even on a slow link.
	readTimeout = 30 * time.Second
	// writeTimeout: from the end of the headers to the end of the answer;
	// above callTimeout, so a 503 still goes out when Redis hangs.
	writeTimeout = 30 * time.Second
	// idleTimeout: how long a kept-alive connection may wait for its next request.
	idleTimeout = 120 * time.Second
	// maxHeaderBytes: ample for a bearer token and ordinary headers.
	maxHeaderBytes = 64 << 10
)

// NewServer returns an http.Server for h (from New) with the limits above;
// net/http's own complaints go to logger at warn. The caller listens, serves
// and shuts it down.
func NewServer(h http.Handler, logger zerolog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          stdLogger(logger),
	}
}

// stdLogger sends net/http's error lines (TLS handshakes, hijack misuse,
// panics it recovers itself) to zerolog.
func stdLogger(l zerolog.Logger) *log.Logger { return log.New(zerologWriter{l}, "", 0) }

type zerologWriter struct{ l zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	w.l.Warn().Str("component", "http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
