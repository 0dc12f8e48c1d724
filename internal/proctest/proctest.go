// Package proctest runs the noderemover binary as real processes in tests:
// it builds the binary once per test binary, starts processes that die with
// the test, and tells whether one listens. Tests wait on conditions with
// testkit.WaitFor.
package proctest

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/noderemover/noderemover/internal/testkit"
)

// The command that is built.
const pkg = "github.com/noderemover/noderemover/cmd/noderemover"

var (
	buildMu sync.Mutex
	built   = map[bool]string{} // race → path
)

// Binary builds noderemover (with the race detector when race is true) once
// per test binary and returns its path.
func Binary(tb testing.TB, race bool) string {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[race]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "noderemover-bin")
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "noderemover")
	args := []string{"build", "-o", path}
	if race {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	built[race] = path
	return path
}

// Proc is a running noderemover process.
type Proc struct {
	Cmd  *exec.Cmd
	Args []string

	stdout *testkit.SyncBuffer
	stderr *testkit.SyncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // its Wait error, once done
}

// Start runs bin with args and env (added to this process's environment).
// The process is killed when the test ends, and when the test binary dies.
func Start(tb testing.TB, bin string, env []string, args ...string) *Proc {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	dieWithParent(cmd)
	p := &Proc{Cmd: cmd, Args: args, stdout: &testkit.SyncBuffer{}, stderr: &testkit.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		p.Kill()
		if tb.Failed() {
			tb.Logf("%s stderr (last 4 KiB):\n%s", strings.Join(args, " "), tail(p.Stderr(), 4096))
		}
	})
	return p
}

// Stdout is what the process wrote to stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr is what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Kill kills the process (SIGKILL) and waits for it.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Wait waits up to limit for the process to exit and returns its Wait
// error; it fails the test when the process is still running then.
func (p *Proc) Wait(tb testing.TB, limit time.Duration) error {
	tb.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		tb.Fatalf("%s still running after %v", strings.Join(p.Args, " "), limit)
		return nil
	}
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Run runs bin to its end with stdin and returns stdout and the exit code;
// stderr is logged when the code is not 0.
func Run(tb testing.TB, bin string, env []string, stdin string, args ...string) (string, int) {
	tb.Helper()
	out, errOut, code := RunAll(tb, bin, env, stdin, args...)
	if code != 0 {
		tb.Logf("%v: exit %d: %s", args, code, errOut)
	}
	return out, code
}

// RunAll runs bin to its end with stdin and returns stdout, stderr and the
// exit code.
func RunAll(tb testing.TB, bin string, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		tb.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// FreeAddr returns a loopback address nothing listens on now.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Listening reports whether something accepts connections on addr.
func Listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// SIGTERM is the signal a process manager sends to stop a process.
var SIGTERM = syscall.SIGTERM
