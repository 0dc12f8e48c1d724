package api

import (
	"net/http"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/internal/httpserver"
)

// NewServer returns an http.Server for h (from New) with the limits every
// server of noderemover has (internal/httpserver: read timeouts, header and
// body sizes, nosniff). There is no WriteTimeout: GET /v1/events streams and
// GET /v1/removals/{id}?wait= long-polls; such a handler calls
// httpserver.Stream. Every other call is bounded by callTimeout on its Redis
// work. net/http's own complaints go to logger at warn. The caller listens,
// serves and shuts it down.
func NewServer(h http.Handler, limits httpserver.Limits, logger zerolog.Logger) *http.Server {
	return httpserver.New(h, limits, logger)
}
