// Package dashboard serves the operators' view of the queue: asynqmon, behind
// HTTP basic auth, with task payloads and results shown through a formatter
// that redacts login material, and a guard that makes deleting or
// archiving a removal's task mean the product's cancel, or refuses it
// (guard.go), so that what asynqmon shows is what the worker does.
package dashboard

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/enqueuer"

	"github.com/noderemover/noderemover/internal/health"
	"github.com/noderemover/noderemover/internal/httpserver"
)

// Options configure the dashboard.
type Options struct {
	Redis    asynq.RedisConnOpt
	User     string // with Password: basic auth; both empty: none (loopback only, checked by config)
	Password string
	ReadOnly bool
	// Ready reports whether Redis answers, for /readyz.
	Ready func() error
	// Requests, when set, serves the requests pages (/requests) from it,
	// and deleting or archiving a node:remove task cancels its request
	// through it. Nil: no requests pages, and such calls are refused (not
	// needed when ReadOnly).
	Requests *enqueuer.Client
	// Logger gets what the requests pages cannot show.
	Logger zerolog.Logger
}

// Handler is the dashboard; Close releases asynqmon's Redis connections.
type Handler struct {
	http.Handler
	mon       *asynqmon.HTTPHandler
	inspector *asynq.Inspector
}

// New builds the dashboard: asynqmon at the root (its API under /api/),
// /healthz and /readyz without authentication. Its pages cannot be framed
// and carry a Content-Security-Policy; a changing call from another site is
// refused (crossSite), and so is a request with two Authorization headers.
func New(o Options) *Handler {
	mon := asynqmon.New(asynqmon.Options{
		RootPath:         "",
		RedisConnOpt:     o.Redis,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(func(_ string, p []byte) string { return Redact(p) }),
		ResultFormatter:  asynqmon.ResultFormatterFunc(func(_ string, p []byte) string { return Redact(p) }),
		ReadOnly:         o.ReadOnly,
	})
	var app http.Handler = mon
	var inspector *asynq.Inspector
	if !o.ReadOnly { // read-only: asynqmon refuses every change itself
		inspector = asynq.NewInspector(o.Redis)
		g := &guard{next: mon, inspector: inspector}
		if o.Requests != nil { // a nil *Client in the interface would not be nil
			g.requests = o.Requests
		}
		app = g
	}
	if o.User != "" || o.Password != "" {
		app = basicAuth(o.User, o.Password, app)
	}
	app = crossSite(oneAuthorization(app))
	app = pageHeaders(contentSecurityPolicy(renderIndex(mon, mon.RootPath())), app)
	mux := http.NewServeMux()
	mux.Handle(mon.RootPath()+"/", app)
	if o.Requests != nil {
		pages := &requestPages{c: o.Requests, log: o.Logger, root: mon.RootPath()}
		pages.register(mux, func(h http.Handler) http.Handler {
			if o.User != "" || o.Password != "" {
				h = basicAuth(o.User, o.Password, h)
			}
			return requestPageHeaders(oneAuthorization(h))
		})
	}
	health.Register(mux, health.Check{Name: "redis", Fn: func(context.Context) error { return o.Ready() }})
	return &Handler{Handler: mux, mon: mon, inspector: inspector}
}

// Close releases the dashboard's Redis connections.
func (h *Handler) Close() error {
	err := h.mon.Close()
	if h.inspector != nil {
		err = errors.Join(err, h.inspector.Close())
	}
	return err
}

// basicAuth lets through requests with the user and password, compared in
// constant time (over hashes, so their lengths do not leak either).
func basicAuth(user, password string, next http.Handler) http.Handler {
	wantUser, wantPassword := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		gotUser, gotPassword := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passwordOK := subtle.ConstantTimeCompare(gotPassword[:], wantPassword[:])
		if userOK&passwordOK != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="noderemover dashboard", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// oneAuthorization refuses a request with more than one Authorization
// header: a proxy and the dashboard could read different credentials.
func oneAuthorization(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !httpserver.OneAuthorization(r) {
			http.Error(w, "more than one Authorization header: send exactly one", http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}
