// Package api is the HTTP API for producers that are not written in Go: it
// turns POST, GET and DELETE on /v1/removals into calls of an
// enqueuer.Client, checks bearer tokens, answers every error as an RFC 9457
// problem, and serves its own OpenAPI 3.1 document (api/openapi.json, the
// contract its tests hold the handlers to) and the health probes.
package api

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/enqueuer"
	"github.com/noderemover/noderemover/internal/health"
)

// Options configure the handler.
type Options struct {
	// Tokens are the bearer tokens accepted on /v1/removals. With none, every
	// call there is refused (401): the API fails closed.
	Tokens []string
	// Ping checks Redis for /readyz; nil leaves readiness without a check.
	Ping func(context.Context) error
	// Logger gets one access line per request and every error a caller
	// cannot see. Request bodies and the Authorization header are never logged.
	Logger zerolog.Logger
	// DryRunTimeout bounds how long a dry run waits for a worker's answer
	// (default 20s).
	DryRunTimeout time.Duration
}

// server holds what the handlers share.
type server struct {
	c             *enqueuer.Client
	tokens        tokens
	log           zerolog.Logger
	dryRunTimeout time.Duration
}

// route is one operation the handler serves. Every route appears in
// openapi.json with its method, and the tests hold the two together.
type route struct {
	method, pattern string
	public          bool // served without a token
	handle          http.HandlerFunc
}

// Paths of the API.
const (
	removalsPath = "/v1/removals"
	removalPath  = "/v1/removals/{id}"
	openAPIPath  = "/v1/openapi.json"
)

func (s *server) routes() []route {
	return []route{
		{http.MethodPost, removalsPath, false, s.create},
		{http.MethodGet, removalsPath, false, s.list},
		{http.MethodGet, removalPath, false, s.get},
		{http.MethodGet, eventsPath, false, s.events},
		{http.MethodDelete, removalPath, false, s.cancel},
		{http.MethodPost, pausePath, false, s.pauseSwitch(false)},
		{http.MethodPost, resumePath, false, s.pauseSwitch(true)},
		{http.MethodPost, clusterPausePath, false, s.pauseSwitch(false)},
		{http.MethodPost, clusterResumePath, false, s.pauseSwitch(true)},
		{http.MethodGet, clusterPath, false, s.getCluster},
		{http.MethodPut, clusterPath, false, s.putCluster},
		{http.MethodGet, redisPath, false, s.redisLoss},
		{http.MethodPost, redisAckPath, false, s.ackRedisLoss},
		{http.MethodGet, openAPIPath, true, serveOpenAPI},
		// Served by health.Register; listed for the 405 answers.
		{http.MethodGet, health.LivePath, true, nil},
		{http.MethodGet, health.ReadyPath, true, nil},
	}
}

// New returns the API's handler on c.
func New(c *enqueuer.Client, o Options) http.Handler {
	s := &server{c: c, tokens: newTokens(o.Tokens), log: o.Logger, dryRunTimeout: cmp.Or(o.DryRunTimeout, defaultDryRunTimeout)}
	mux := http.NewServeMux()
	var checks []health.Check
	if o.Ping != nil {
		checks = append(checks, health.Check{Name: "redis", Fn: o.Ping})
	}
	health.RegisterLogged(mux, func(check string, err error) {
		s.log.Warn().Str("check", check).Err(err).Msg("not ready")
	}, checks...)

	allowed := map[string][]string{}
	for _, rt := range s.routes() {
		allowed[rt.pattern] = append(allowed[rt.pattern], rt.method)
		if rt.handle == nil {
			continue
		}
		h := rt.handle
		if !rt.public {
			h = s.authorized(h)
		}
		mux.HandleFunc(rt.method+" "+rt.pattern, h)
	}
	// A known path asked with another method: 405 as a problem. A pattern
	// without a method is less specific than the ones with, so it only
	// catches what they do not.
	for pattern, methods := range allowed {
		mux.HandleFunc(pattern, methodNotAllowed(methods))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, problem{Type: typeNotFound, Title: titleNotFound, Status: http.StatusNotFound,
			Detail: "no such path; the API is described at " + openAPIPath})
	})
	return s.observe(mux)
}

func methodNotAllowed(methods []string) http.HandlerFunc {
	allow := slices.Clone(methods)
	if slices.Contains(allow, http.MethodGet) {
		allow = append(allow, http.MethodHead)
	}
	slices.Sort(allow)
	list := strings.Join(allow, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", list)
		writeProblem(w, r, problem{Type: typeMethodNotAllowed, Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
			Detail: r.Method + " is not served on " + r.URL.Path + "; allowed: " + list})
	}
}
