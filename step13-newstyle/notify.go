package main

import (
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// notifySocket is the address of the service manager's notification
// socket, from $NOTIFY_SOCKET, or "" when no manager asked to hear from the
// server.
var notifySocket string

// takeNotifySocket reads $NOTIFY_SOCKET and removes it from the
// environment, so that the workers, which re-execute this program, do not
// inherit it: only the server speaks for the service.
func takeNotifySocket() {
	notifySocket = os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
}

// notifyManager tells the service manager how the server is doing, with
// the sd_notify protocol (sd_notify(3)): one datagram of NAME=VALUE lines
// sent to $NOTIFY_SOCKET. "READY=1" says that the server accepts
// connections, and a manager that started it with Type=notify counts it as
// started only then; "STOPPING=1" says that it has begun to stop;
// "STATUS=..." is a line for people, which "systemctl status" shows.
// This replaces the notification pipe to the launcher of steps 01 to 12:
// the manager, not a launcher, waits for the server to be ready.
//
// It takes a dozen lines, so the tutorial writes them rather than depend on
// github.com/coreos/go-systemd, whose daemon.SdNotify does the same.
func notifyManager(assignments ...string) {
	if notifySocket == "" {
		return
	}
	for i, a := range assignments {
		// A newline would end the assignment and start another.
		assignments[i] = oneLine(a)
	}
	msg := []byte(strings.Join(assignments, "\n"))
	if err := sendDatagram(notifySocket, msg); err != nil {
		logError("notify the service manager at %q of %s: %v", notifySocket, assignments[0], err)
	}
}

// notifyTimeout is how long the server waits for the service manager to
// take a notification: a manager that is slow to read delays the server
// rather than miss that it is ready, but one that stopped reading costs it
// a second and a logged error, never its SIGTERM.
const notifyTimeout = time.Second

// sendDatagram sends msg in one datagram to the Unix socket at addr. A
// leading "@" names a socket in Linux's abstract namespace, as systemd
// sometimes names its own; x/sys/unix reads the "@" that way. The socket
// blocks for notifyTimeout at most: a datagram socket whose receiver's
// queue is full waits for room, and without the limit the main loop, which
// sends, would hear no signal while it waits.
func sendDatagram(addr string, msg []byte) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(notifyTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return err
	}
	return unix.Sendto(fd, msg, 0, &unix.SockaddrUnix{Name: addr})
}
