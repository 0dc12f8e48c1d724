package proctest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes a child process die when the test process does, so a
// test killed by its timeout leaves nothing running.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
