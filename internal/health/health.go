// Package health serves the probes every noderemover process offers:
// /healthz (the process serves) and /readyz (its dependencies answer).
package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Paths the binary serves; the Kubernetes manifests probe these.
const (
	LivePath    = "/healthz"
	ReadyPath   = "/readyz"
	MetricsPath = "/metrics"
)

// checkTimeout bounds one readiness check.
const checkTimeout = 2 * time.Second

// reason is an error readiness may show: what it says names no host and
// no secret.
type reason interface{ Reason() string }

// Check is one readiness condition: nil when it holds.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Register adds the liveness and readiness handlers to mux. Readiness runs
// every check and answers 503 naming those that fail; it does not show their
// errors (the probes need no authentication, and a Redis error names hosts):
// onFail, when set, gets them for the log. An error that has a Reason
// (an operator must act, and it says how) is shown by that Reason, after
// the check's name.
func Register(mux *http.ServeMux, checks ...Check) {
	RegisterLogged(mux, nil, checks...)
}

// RegisterLogged is Register with onFail told of each failed check.
func RegisterLogged(mux *http.ServeMux, onFail func(check string, err error), checks ...Check) {
	mux.HandleFunc("GET "+LivePath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET "+ReadyPath, func(w http.ResponseWriter, r *http.Request) {
		var failed []string
		for _, c := range checks {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			err := c.Fn(ctx)
			cancel()
			if err != nil {
				name := c.Name
				var r reason
				if errors.As(err, &r) {
					name += " (" + r.Reason() + ")"
				}
				failed = append(failed, name)
				if onFail != nil {
					onFail(c.Name, err)
				}
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: "+strings.Join(failed, ", "))
			return
		}
		fmt.Fprintln(w, "ok")
	})
}
