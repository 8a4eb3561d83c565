package main

import (
	"os"
	"syscall"
)

// reexec starts this program's own binary again in role: Go's stand-in for
// fork(). The new process gets files[i] as its descriptor i, and sys
// applies its attributes between the fork and the exec.
//
// It runs /proc/self/exe rather than the path in os.Args[0]: the binary may
// have been deleted since it started, as a package upgrade replaces it
// while the service runs, and /proc/self/exe still reaches it.
func reexec(role string, files []uintptr, sys *syscall.SysProcAttr) (int, error) {
	env := append(os.Environ(), roleEnv+"="+role)
	return syscall.ForkExec("/proc/self/exe", os.Args, &syscall.ProcAttr{
		Env:   env,
		Files: files,
		Sys:   sys,
	})
}
