package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// listen removes a socket that an earlier server left behind at path, then
// listens there. These are the C server's socket(), bind() and listen(),
// through golang.org/x/sys/unix rather than package net: net would link
// the C library in for its DNS resolver, and every worker would pay for the
// dynamic loader (PERFORMANCE.md). The socket is close-on-exec, so that no
// worker inherits it.
func listen(path string) (*os.File, error) {
	if err := checkDirectories(path); err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
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

// removeStaleSocket removes the socket at path, if there is one and nobody
// accepts connections there: without the lock of steps 07 to 12, this is
// what keeps a second copy started by hand from taking the socket of a
// server that runs (a service manager runs one copy of a service).
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
	if someoneListens(path) {
		return fmt.Errorf("socket %q: a server accepts connections there; refusing to remove it", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %q: %w", path, err)
	}
	return nil
}

// someoneListens connects to the socket at path: only a refused connection
// proves it stale. The connect does not wait: a full queue says EAGAIN.
func someoneListens(path string) bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		defer unix.Close(fd)
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	}
	return !errors.Is(err, unix.ECONNREFUSED)
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

// clientGone reports whether the client of the connection conn closed it
// while it waited in the listen queue, as a burst of impatient clients
// does: a worker started for each would find nothing to echo, and a new
// client would wait behind them all. poll, with a timeout of 0, does not
// wait: it says POLLHUP once both directions are shut. A client that has
// only closed its writing side (POLLRDHUP alone) still waits for its echo.
func clientGone(conn int) bool {
	fds := []unix.PollFd{{Fd: int32(conn), Events: unix.POLLIN | unix.POLLRDHUP}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 1 && fds[0].Revents&unix.POLLHUP != 0
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

// checkDirectories returns an error unless every directory on the way to
// path, and every symbolic link followed on the way, belongs to root or to
// this user, and no directory may be written by group or others unless it
// is sticky, as /tmp is. Otherwise another user could rename or replace a
// name on the way, and send a server running as root to write or remove
// one of root's files. It resolves the path one name at a time, as the
// kernel does, so it checks both the names as given and where their links
// lead (OpenSSH's safe_path and systemd's safe path resolution check the
// same).
func checkDirectories(path string) error {
	names := strings.Split(filepath.Dir(path), "/")
	dir := "/"
	if err := checkDirectory(path, dir); err != nil {
		return err
	}
	for links := 0; len(names) > 0; {
		name := names[0]
		names = names[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			dir = filepath.Dir(dir) // dir holds no link: already resolved
			continue
		}
		next := filepath.Join(dir, name)
		fi, err := os.Lstat(next)
		if err != nil {
			return fmt.Errorf("%q: %w", path, err)
		}
		if fi.Mode().Type() == os.ModeSymlink {
			if err := checkOwner(path, next, fi); err != nil {
				return err
			}
			if links++; links > 40 { // the kernel's limit (path_resolution(7))
				return fmt.Errorf("%q: %w", path, unix.ELOOP)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return fmt.Errorf("%q: %w", path, err)
			}
			if filepath.IsAbs(target) {
				dir = "/"
			}
			names = append(strings.Split(target, "/"), names...)
			continue
		}
		if err := checkDirectory(path, next); err != nil {
			return err
		}
		dir = next
	}
	return nil
}

// checkDirectory returns an error unless dir, on the way to path, is a
// directory of root or of this user that group and others may not write,
// or may write only with the sticky bit set.
func checkDirectory(path, dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("%q: %w", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%q: %q is not a directory", path, dir)
	}
	if err := checkOwner(path, dir, fi); err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("%q: the directory %q (mode %v) may be written by group or others and is not sticky; refusing to use it", path, dir, fi.Mode())
	}
	return nil
}

// checkOwner returns an error unless fi, the directory or symbolic link
// name on the way to path, belongs to root or to this user.
func checkOwner(path, name string, fi os.FileInfo) error {
	owner := int(fi.Sys().(*syscall.Stat_t).Uid)
	if owner == 0 || owner == os.Geteuid() {
		return nil
	}
	return fmt.Errorf("%q: %s %q belongs to uid %d, not root or uid %d; refusing to use it", path, fileType(fi), name, owner, os.Geteuid())
}
