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

	"github.com/noderemover/noderemover/internal/health"
)

// Options configure the dashboard.
type Options struct {
	Redis    asynq.RedisConnOpt
	User     string // with Password: basic auth; both empty: none (loopback only, checked by config)
	Password string
	ReadOnly bool
	// Ready reports whether Redis answers, for /readyz.
	Ready func() error
	// Requests cancels and reads requests (an *enqueuer.Client): deleting or
	// archiving a node:remove task cancels its request. Nil: such calls are
	// refused (not needed when ReadOnly).
	Requests Requests
}

// Handler is the dashboard; Close releases asynqmon's Redis connections.
type Handler struct {
	http.Handler
	mon       *asynqmon.HTTPHandler
	inspector *asynq.Inspector
}

// New builds the dashboard: asynqmon at the root (its API under /api/),
// /healthz and /readyz without authentication.
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
		app = &guard{next: mon, inspector: inspector, requests: o.Requests}
	}
	if o.User != "" || o.Password != "" {
		app = basicAuth(o.User, o.Password, app)
	}
	mux := http.NewServeMux()
	mux.Handle(mon.RootPath()+"/", app)
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
