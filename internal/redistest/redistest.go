// Package redistest gives tests a private Redis: a redis-server started on a
// free loopback port when the binary is on PATH, the server named by
// TEST_REDIS_URL otherwise (its database is flushed), and an in-process
// miniredis as the last resort. Tests never touch a shared Redis.
//
// StartCluster and StartSentinel give a test the other topologies REDIS_URL
// names, as private redis-server processes: a three-master Redis Cluster,
// and a master watched by a Sentinel. They need the real binaries (no
// fallback) and skip the test without them.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Kind says what backs a Server.
type Kind string

const (
	KindServer Kind = "redis-server" // a private redis-server process
	KindURL    Kind = "url"          // TEST_REDIS_URL
	KindMini   Kind = "miniredis"    // in process
)

// Options change how a private redis-server is started.
type Options struct {
	// AppendOnly turns on the append-only file so a Restart keeps the data.
	AppendOnly bool
	// Miniredis forces the in-process fallback even where redis-server exists.
	Miniredis bool
}

// Server is one private Redis for one test.
type Server struct {
	Kind Kind
	Addr string // host:port
	URL  string // redis://host:port/db

	tb   testing.TB
	opts Options
	dir  string
	mini *miniredis.Miniredis

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start gives the test a Redis of its own, stopped when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{tb: tb, opts: opts}
	switch {
	case !opts.Miniredis && HaveServer():
		s.Kind = KindServer
		s.dir = tb.TempDir()
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: free port: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.URL = "redis://" + s.Addr + "/0"
		s.start(tb)
		tb.Cleanup(s.stop)
	case !opts.Miniredis && os.Getenv("TEST_REDIS_URL") != "":
		s.Kind = KindURL
		s.URL = os.Getenv("TEST_REDIS_URL")
		o, err := redis.ParseURL(s.URL)
		if err != nil {
			tb.Fatalf("redistest: TEST_REDIS_URL: %v", err)
		}
		s.Addr = o.Addr
		c := redis.NewClient(o)
		defer c.Close()
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			tb.Fatalf("redistest: flush TEST_REDIS_URL: %v", err)
		}
	default:
		s.Kind = KindMini
		s.mini = miniredis.RunT(tb)
		s.Addr = s.mini.Addr()
		s.URL = "redis://" + s.Addr + "/0"
	}
	return s
}

// HaveServer reports whether redis-server is on PATH.
func HaveServer() bool {
	_, err := exec.LookPath("redis-server")
	return err == nil
}

// Client returns a go-redis client for the server, closed when the test ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	o, err := redis.ParseURL(s.URL)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	c := redis.NewClient(o)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Mini returns the miniredis behind the server, or nil.
func (s *Server) Mini() *miniredis.Miniredis { return s.mini }

// Stop stops a private redis-server (the data stays on disk when AppendOnly).
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if s.Kind != KindServer {
		tb.Skipf("redistest: Stop needs a private redis-server, have %s", s.Kind)
	}
	s.stop()
}

// Restart starts a stopped private redis-server again on the same port.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if s.Kind != KindServer {
		tb.Skipf("redistest: Restart needs a private redis-server, have %s", s.Kind)
	}
	s.stop()
	s.start(tb)
}

func (s *Server) start(tb testing.TB) {
	tb.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{
		"--port", port, "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--maxmemory-policy", "noeviction", "--logfile", filepath.Join(s.dir, "redis.log"),
	}
	if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	}
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("redistest: start redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	if err := waitReady(s.Addr, 10*time.Second); err != nil {
		s.stop()
		tb.Fatalf("redistest: redis-server on %s: %v\n%s", s.Addr, err, tail(filepath.Join(s.dir, "redis.log")))
	}
}

func (s *Server) stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func waitReady(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err = c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond) // polling for a condition, with a deadline
	}
	return fmt.Errorf("not ready after %v: %w", limit, err)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 20 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
