package main

import (
	"golang.org/x/sys/unix"
)

// listenerPid connects to the socket at path and returns the pid of the
// process that listens there, as the kernel recorded it at listen() and
// SO_PEERCRED reads it; an error says that nobody answers.
//
// Steps 07 to 12 held a lock while they removed a stale socket, so no
// other copy could be listening there. Under a service manager the lock is
// gone: the manager runs one copy of a service. A server started by hand,
// with -socket, asks the socket itself before it removes it, so that it
// does not take the socket from a server that still answers there.
func listenerPid(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return 0, err
	}
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, err
	}
	return int(cred.Pid), nil
}
