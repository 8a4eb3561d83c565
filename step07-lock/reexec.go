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
// have been deleted since it started, as "go run" deletes its temporary
// binary when the launcher exits, and /proc/self/exe still reaches it.
func reexec(role string, files []uintptr, sys *syscall.SysProcAttr) (int, error) {
	env := append(os.Environ(), roleEnv+"="+role)
	if role == roleWorker {
		// A worker echoes one connection in one goroutine: one P is all it
		// needs, and each P it does not make saves memory while it waits
		// (PERFORMANCE.md). The runtime reads the first GOMAXPROCS in the
		// environment, so this one goes first.
		env = append([]string{"GOMAXPROCS=1"}, env...)
	}
	return syscall.ForkExec("/proc/self/exe", os.Args, &syscall.ProcAttr{
		Env:   env,
		Files: files,
		Sys:   sys,
	})
}
