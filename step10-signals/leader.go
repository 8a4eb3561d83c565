package main

import (
	"fmt"
	"os"
	"syscall"
)

// runSessionLeader starts the server in a process group of its own, then
// exits (recommendation 5). It runs as the leader of the new session, and a
// session leader cannot leave its process group: setpgid() fails with
// EPERM. So the group is made for a child, the second "fork" of the
// classic recipe, which is then neither the session's leader nor able to
// acquire a controlling terminal by opening one.
//
// Go's SysProcAttr cannot do both at once: with Setsid and Setpgid, the
// child's setpgid() would come after its setsid() and fail.
func runSessionLeader() error {
	_, err := reexec(roleServer, []uintptr{0, 1, 2, notifyFd}, &syscall.SysProcAttr{Setpgid: true})
	if err != nil {
		notifyLauncher(fmt.Errorf("start server: %w", err))
		os.Exit(1) // the launcher prints the reason
	}
	return nil
}
