package main

import (
	"fmt"
	"syscall"
)

// runSessionLeader starts the server in a process group of its own
// (recommendation 5) and returns, and the session leader exits. It runs as
// the leader of the new session, and a session leader cannot leave its
// process group: setpgid() fails with EPERM. So the group is made for a
// child, the second "fork" of the classic recipe, which is then neither the
// session's leader nor able to acquire a controlling terminal by opening
// one.
//
// Go's SysProcAttr cannot do both at once: with Setsid and Setpgid, the
// child's setpgid() would come after its setsid() and fail.
func runSessionLeader() error {
	_, err := reexec(roleServer, []uintptr{0, 1, 2, notifyFd}, &syscall.SysProcAttr{Setpgid: true})
	if err != nil {
		// No server runs to tell the launcher why: the session leader does.
		notifyLauncher(fmt.Errorf("start server: %w", err))
		return errStartFailed
	}
	return nil
}
