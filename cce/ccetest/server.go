package ccetest

import "net/http/httptest"

// Server is a Fake listening on a loopback address, as httptest.Server:
// URL is its endpoint, Client() an HTTP client for it. Close it when done.
type Server struct {
	*httptest.Server
	*Fake
}

// NewServer starts a Fake configured by opts on a loopback address.
func NewServer(opts Options) *Server {
	f := New(opts)
	return &Server{Server: httptest.NewServer(f), Fake: f}
}

// Close ends pending fault delays, then shuts the server down and waits for
// outstanding requests, as httptest.Server.Close does.
func (s *Server) Close() {
	s.Fake.stop()
	s.Server.Close()
}
