package kubetest

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the child in its own process group (stop kills the
// group) and has the kernel kill it when the test binary dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
