//go:build !linux

package kubetest

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the child in its own process group; only Linux can also
// tie its life to the test binary's.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
