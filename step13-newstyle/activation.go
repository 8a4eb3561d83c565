package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// listenFdsStart is the first descriptor a service manager passes: 3, the
// one after standard input, output and error (SD_LISTEN_FDS_START).
const listenFdsStart = 3

// listenName is the name the server looks for in $LISTEN_FDNAMES when the
// manager passes more than one socket: echod.socket sets it with
// FileDescriptorName=.
const listenName = "echod"

// listenerFromManager returns the listening socket that the service
// manager passed, or nil if it passed none (socket activation,
// sd_listen_fds(3)). The manager binds the socket and keeps it open itself,
// so connections wait in its queue while the server starts or restarts,
// and the manager can start the server on the first one.
//
// The manager says so in three variables: LISTEN_PID, the pid they are
// meant for (a parent that got them and started this program without
// clearing them passes on variables meant for itself); LISTEN_FDS, how
// many descriptors it passed from 3 on; and LISTEN_FDNAMES, their names,
// separated by colons. All three leave the environment here, whoever they
// were meant for, so that no worker inherits them.
//
// The server never binds that socket, and never removes its file: the
// socket belongs to the manager, which made it and will pass it again.
func listenerFromManager() (*os.File, error) {
	pidVar, fdsVar, namesVar := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	if pidVar == "" || fdsVar == "" {
		return nil, nil
	}
	if pid, err := strconv.Atoi(pidVar); err != nil || pid != os.Getpid() {
		logInfo("LISTEN_PID=%q is not this process (pid %d): the sockets were passed to another; closed %d of the LISTEN_FDS=%q descriptors", pidVar, os.Getpid(), closePassedFds(fdsVar), fdsVar)
		return nil, nil
	}
	n, err := strconv.Atoi(fdsVar)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("LISTEN_FDS=%q: expected a number of descriptors, 1 or more", fdsVar)
	}
	var names []string
	if namesVar != "" {
		names = strings.Split(namesVar, ":")
	}
	fd, err := pickListenFd(n, names)
	if err != nil {
		return nil, err
	}
	// Whatever the manager passed stays out of the workers.
	for i := listenFdsStart; i < listenFdsStart+n; i++ {
		unix.CloseOnExec(i)
	}
	return fileListener(fd)
}

// closePassedFds closes the descriptors that LISTEN_FDS says were passed,
// from 3 on, when they were meant for another process, and returns how
// many it closed: a listening socket kept open here would hold its clients
// in a queue that nobody serves. It closes only sockets and FIFOs, what a
// manager passes: if the variables are stale and the descriptors were
// never passed, those numbers may be the Go runtime's own (its epoll
// descriptor, say), which must stay.
func closePassedFds(fdsVar string) (closed int) {
	n, err := strconv.Atoi(fdsVar)
	if err != nil {
		return 0
	}
	for fd := listenFdsStart; fd < listenFdsStart+n; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			continue
		}
		if typ := st.Mode & unix.S_IFMT; typ == unix.S_IFSOCK || typ == unix.S_IFIFO {
			unix.Close(fd)
			closed++
		}
	}
	return closed
}

// pickListenFd returns the descriptor to serve on among the n passed: the
// only one, or the one named listenName.
func pickListenFd(n int, names []string) (int, error) {
	if n == 1 {
		return listenFdsStart, nil
	}
	for i, name := range names {
		if name == listenName && i < n {
			return listenFdsStart + i, nil
		}
	}
	return 0, fmt.Errorf("the service manager passed %d sockets (LISTEN_FDNAMES=%q) and none is named %q", n, strings.Join(names, ":"), listenName)
}

// fileListener checks that fd is what the server can serve on, a listening
// Unix-domain stream socket, and returns it as listen does: an *os.File
// over a non-blocking socket, named after the socket's path, for
// messages. The manager passes its sockets in blocking mode; non-blocking,
// the Go runtime's poller watches it, so acceptConn can wait without
// holding a thread.
func fileListener(fd int) (*os.File, error) {
	domain, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	typ, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	listening, err3 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err1 != nil || err2 != nil || err3 != nil || domain != unix.AF_UNIX || typ != unix.SOCK_STREAM || listening != 1 {
		return nil, fmt.Errorf("descriptor %d from the service manager is not a listening Unix-domain stream socket (ListenStream= with a path)", fd)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("descriptor %d from the service manager: %w", fd, err)
	}
	name := fmt.Sprintf("descriptor %d", fd)
	if sa, err := unix.Getsockname(fd); err == nil {
		if addr, ok := sa.(*unix.SockaddrUnix); ok && addr.Name != "" {
			name = addr.Name
		}
	}
	return os.NewFile(uintptr(fd), name), nil
}
