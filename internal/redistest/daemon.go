package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// daemon is one redis-server process of a Cluster or a Sentinel, stopped
// when the test ends.
type daemon struct {
	addr string // 127.0.0.1:port
	log  string // its log file
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
}

// startDaemon runs redis-server with args (a config file, if any, first),
// logging to logPath, and waits until addr answers PING.
func startDaemon(tb testing.TB, addr, logPath string, args ...string) *daemon {
	tb.Helper()
	cmd := exec.Command("redis-server", append(args, "--logfile", logPath)...)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("redistest: start redis-server: %v", err)
	}
	d := &daemon{addr: addr, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.done) }()
	tb.Cleanup(d.stop)
	if err := waitReady(addr, 10*time.Second); err != nil {
		tb.Fatalf("redistest: redis-server on %s: %v\n%s", addr, err, tail(logPath))
	}
	return d
}

// stop asks the process to shut down, killing it if it does not within 10s.
func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// needBinaries skips the test when a program topology needs is not on PATH.
func needBinaries(tb testing.TB, topology string, names ...string) {
	tb.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			tb.Skipf("redistest: %s needs %s on PATH (apt-get install redis-server gives them): %v",
				topology, strings.Join(names, " and "), err)
		}
	}
}

// loopbackAddr returns a free loopback address, as host:port and port.
func loopbackAddr(tb testing.TB) (string, string) {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatalf("redistest: free port: %v", err)
	}
	p := strconv.Itoa(port)
	return net.JoinHostPort("127.0.0.1", p), p
}

// waitFor polls cond until it returns nil, or fails with its last error
// after limit.
func waitFor(limit time.Duration, cond func(ctx context.Context) error) error {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := cond(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", limit, err)
		}
		time.Sleep(20 * time.Millisecond) // polling for a condition, with a deadline
	}
}

// nodeClient is a client of one process, for readiness checks.
func nodeClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
}
