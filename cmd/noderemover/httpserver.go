package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// Server timeouts for the small HTTP servers of worker and dashboard.
const (
	readHeaderTimeout = 5 * time.Second
	httpIdleTimeout   = 60 * time.Second
	httpStopTimeout   = 5 * time.Second
)

// httpServer serves h on a listener until stop is called.
type httpServer struct {
	srv  *http.Server
	addr net.Addr
	done chan error
}

// listenAndServe starts serving h on addr in the background.
func listenAndServe(addr string, h http.Handler, log zerolog.Logger) (*httpServer, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &httpServer{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: httpIdleTimeout,
			ErrorLog: newStdLogger(log)},
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

// stop shuts the server down gracefully.
func (s *httpServer) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), httpStopTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, <-s.done)
}
