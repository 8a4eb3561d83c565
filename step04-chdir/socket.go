package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// listen removes a socket that an earlier server left behind at path, then
// listens there. These are the C server's socket(), bind() and listen(),
// through golang.org/x/sys/unix rather than package net: net would link
// the C library in for its DNS resolver, and every worker would pay for the
// dynamic loader (PERFORMANCE.md). The socket is close-on-exec, so that no
// worker inherits it.
func listen(path string) (*os.File, error) {
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind %q: %w", path, err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen %q: %w", path, err)
	}
	// A non-blocking descriptor in an *os.File is watched by the Go
	// runtime's poller, so acceptConn can wait without holding a thread.
	return os.NewFile(uintptr(fd), path), nil
}

// removeStaleSocket removes the socket at path, if there is one. It does not
// ask whether a server still listens there, so a second copy takes the
// socket from the first: the flaw that step 07 mends.
// Anything but a socket is refused and left alone: the path may be a typo
// for a file that matters.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket %q: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket %q: exists and is not a socket (%s); refusing to remove it", path, fileType(fi))
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %q: %w", path, err)
	}
	return nil
}

// acceptConn waits for a connection on ln and returns its descriptor, as
// the C server's accept() does. raw.Read calls the function once the
// runtime's poller says the socket is readable, and again for as long as
// it returns false: accept4() says EAGAIN when no connection waits after all.
func acceptConn(ln *os.File) (int, error) {
	raw, err := ln.SyscallConn()
	if err != nil {
		return -1, err
	}
	conn := -1
	var acceptErr error
	err = raw.Read(func(fd uintptr) bool {
		conn, _, acceptErr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC)
		return !errors.Is(acceptErr, unix.EAGAIN)
	})
	if err != nil {
		return -1, err
	}
	return conn, acceptErr
}

// fileType names the type of file fi describes, for messages.
func fileType(fi fs.FileInfo) string {
	switch t := fi.Mode().Type(); {
	case t == 0:
		return "a regular file"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case t&fs.ModeDevice != 0:
		return "a device"
	default:
		return "file type " + t.String()
	}
}
