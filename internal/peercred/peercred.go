// Package peercred finds the process at the other end of a Unix-domain
// socket, so that a test or the tour can find a daemon by the socket it
// listens on rather than by guessing at pids.
package peercred

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// ListenerPid returns the pid of the process that listens on the Unix
// stream socket at path. The kernel records the credentials of the process
// that called listen(), and a client reads them with SO_PEERCRED.
func ListenerPid(path string) (int, error) {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	err = raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err = errors.Join(err, credErr); err != nil {
		return 0, fmt.Errorf("SO_PEERCRED on %s: %w", path, err)
	}
	return int(cred.Pid), nil
}
