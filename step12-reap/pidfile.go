package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockPidFile opens the pid file and locks it, so that only one copy of the
// server runs (recommendation 7). The caller keeps the file open while the
// server runs: the kernel drops an flock(2) when the open file's last
// descriptor closes, however the server ends, so the lock never goes stale.
// The server locks it itself, on a close-on-exec file (as every file Go
// opens is): no launcher's pid in /proc/locks, no worker holding the lock.
func lockPidFile(path string) (*os.File, error) {
	f, err := openPrivateFile(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another copy is running: %q is locked by pid %s", path, lockHolder(f))
		}
		return nil, fmt.Errorf("lock %q: %w", path, err)
	}
	// A server that shuts down removes its pid file while it holds the lock
	// (recommendation 10). If that happened between our open and our lock,
	// the lock is on a file that is no longer at path: start again.
	if fi, err := f.Stat(); err == nil && !isAt(path, fi) {
		f.Close()
		return lockPidFile(path)
	}
	return f, nil
}

// writePid writes the server's pid and a newline into the locked pid file
// (recommendation 8), for kill $(cat PIDFILE) and start-stop-daemon
// --pidfile. It empties the file only now that the server holds the lock:
// a copy that lost the race must not erase the winner's pid. The lock, not
// the pid, says whether a server runs: a pid left by a server killed with
// SIGKILL may belong to another process by now.
func writePid(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// lockHolder returns the pid that the locked pid file f names: the holder
// of the lock wrote it there (recommendation 8). Until it has, "unknown".
func lockHolder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n]))); err == nil && pid > 0 {
		return strconv.Itoa(pid)
	}
	return "unknown"
}

// openPrivateFile opens the file at path, or refuses it unless it is a
// regular file that this user owns and no one else may write. In /tmp,
// another user may plant a symbolic link, a FIFO or a file of their own
// for a daemon running as root to trust (CVE-2018-16888).
//
// O_NOFOLLOW refuses a symbolic link, and O_NONBLOCK keeps the open from
// waiting for the other end of a FIFO. checkPrivate looks at the file that
// was opened, through its descriptor, so nobody can swap in another after
// the check.
func openPrivateFile(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o644)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENXIO) {
		return nil, fmt.Errorf("%q is a symbolic link, a FIFO or a socket; refusing to use it", path)
	}
	if err != nil {
		return nil, err
	}
	if err := checkPrivate(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkPrivate returns an error unless the open file f is a regular file
// that this user owns and that neither its group nor others may write.
func checkPrivate(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	owner := int(fi.Sys().(*syscall.Stat_t).Uid)
	perm := fi.Mode().Perm()
	if fi.Mode().IsRegular() && owner == os.Geteuid() && perm&0o022 == 0 {
		return nil
	}
	return fmt.Errorf("%q is %s of uid %d, mode %v: not one that only uid %d may write; refusing to use it",
		f.Name(), fileType(fi), owner, perm, os.Geteuid())
}
