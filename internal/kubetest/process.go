package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// binEnv names a directory holding the binaries, for a CI that built them
// once; without it the repository's tools/build.sh builds (or finds) them.
const binEnv = "NODEREMOVER_KUBE_BIN"

var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// repoRoot is the repository this file is in.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("find the repository: runtime.Caller failed")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file))), nil // internal/kubetest/process.go
}

// binDir returns the directory holding every binary in binaries.
func binDir() (string, error) {
	dir := os.Getenv(binEnv)
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		var stderr bytes.Buffer
		cmd := exec.Command(filepath.Join(root, "tools", "build.sh"))
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("build the control plane with tools/build.sh (or set %s to a directory of prebuilt %s): %w\n%s",
				binEnv, strings.Join(binaries, ", "), err, lastLines(stderr.String(), 30))
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, b := range binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s has no executable %s (from %s or tools/build.sh)", dir, b, binEnv)
		}
	}
	return dir, nil
}

// proc is one child process of the control plane.
type proc struct {
	name string
	log  string // its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
}

// startProc starts bin with args, its output going to dir/name.log. The
// child is in a process group of its own and is killed when this process
// dies, so nothing outlives the test binary.
func startProc(dir, bin, name string, args ...string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer f.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = dir
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop kills the process group and waits for the process to end. The
// control plane keeps nothing worth a graceful shutdown.
func (p *proc) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// failure describes the process for a failure message: whether it exited,
// and the tail of its log.
func (p *proc) failure() string {
	state := "running"
	if p.exited() {
		state = "exited: " + p.cmd.ProcessState.String()
	}
	raw, _ := os.ReadFile(p.log)
	return fmt.Sprintf("--- %s (%s), last lines of %s:\n%s", p.name, state, p.log, lastLines(string(raw), 25))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort returns a loopback port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
