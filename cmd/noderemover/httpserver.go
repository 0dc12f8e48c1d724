package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/config"
	"github.com/noderemover/noderemover/internal/httpserver"
)

// httpStopTimeout bounds the graceful stop of the worker's and the
// dashboard's servers.
const httpStopTimeout = 5 * time.Second

// httpLimits are every server's limits (internal/httpserver), with
// HTTP_READ_TIMEOUT.
func httpLimits(cfg config.Config) httpserver.Limits {
	l := httpserver.Defaults
	l.ReadTimeout = cfg.HTTPReadTimeout
	return l
}

// httpServer serves h on a listener until stop is called.
type httpServer struct {
	srv  *http.Server
	addr net.Addr
	done chan error
}

// listenAndServe starts serving h on addr in the background, with limits.
func listenAndServe(addr string, h http.Handler, limits httpserver.Limits, log zerolog.Logger) (*httpServer, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &httpServer{
		srv:  httpserver.New(h, limits, log),
		addr: l.Addr(),
		done: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// onStop runs f when the server begins to stop (its event streams end
// there, so that the stop need not wait for them).
func (s *httpServer) onStop(f func()) { s.srv.RegisterOnShutdown(f) }

// stop shuts the server down gracefully.
func (s *httpServer) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), httpStopTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, <-s.done)
}
