package httpserver_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/noderemover/noderemover/internal/httpserver"
	"github.com/noderemover/noderemover/internal/testkit"
)

// serve runs New(h, l) on a loopback port until the test ends.
func serve(tb testing.TB, h http.Handler, l httpserver.Limits) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := httpserver.New(h, l, zerolog.Nop())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	tb.Cleanup(func() {
		// Shutdown, not Close: it waits for every connection's goroutine
		// (one that answered 413 lingers before it closes).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

func TestSlowBodiesAreCutOff(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		httpserver.Limits{ReadTimeout: 300 * time.Millisecond})
	closed := testkit.HoldBodies(t, addr, http.MethodPost, "/", 150, "")
	testkit.WaitFor(t, 10*time.Second, "the server to close 150 connections that promised a body", func() bool {
		return closed.Load() == 150
	})
}

// A stream answers for longer than ReadTimeout: neither the server's
// limits nor net/http cut it.
func TestStreamOutlivesTheReadTimeout(t *testing.T) {
	const readTimeout = 200 * time.Millisecond
	var lifted atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := httpserver.Stream(w); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * readTimeout): // the stream's own bound, well past ReadTimeout
			lifted.Store(true)
		}
		_, _ = io.WriteString(w, "data: still here\n\n")
	})
	addr := serve(t, h, httpserver.Limits{ReadTimeout: readTimeout})
	resp, err := http.Get("http://" + addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !lifted.Load() || !strings.Contains(string(body), "still here") {
		t.Fatalf("stream cut off: lifted %v, body %q, err %v", lifted.Load(), body, err)
	}
}

func TestBodiesAreBoundedAndHeadersSet(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		}
	}), httpserver.Limits{MaxBodyBytes: 10})
	for _, tc := range []struct {
		body string
		want int
	}{{"0123456789", 200}, {"0123456789a", 413}} {
		resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("body of %d bytes: %d, want %d", len(tc.body), resp.StatusCode, tc.want)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("headers %v", resp.Header)
		}
	}
}
