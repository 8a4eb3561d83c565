package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockPidFile locks the pid file so that only one copy runs (recommendation 7).
// The kernel drops an flock(2) when the file's last descriptor closes, however
// the server ends: the lock never goes stale. The server locks it itself, and
// Go opens it close-on-exec: no launcher's pid in /proc/locks, no worker's.
func lockPidFile(path string) (*os.File, error) {
	f, err := openPrivateFile(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another copy is running: %q is locked", path)
		}
		return nil, fmt.Errorf("lock %q: %w", path, err)
	}
	return f, nil
}

// openPrivateFile opens the file at path, or refuses it unless it is a
// regular file that this user owns and no one else may write: in /tmp,
// another user may plant a link, a FIFO or a file of theirs for a daemon
// running as root to trust (CVE-2018-16888). A FIFO must not block: O_NONBLOCK.
func openPrivateFile(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o644)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENXIO) {
		return nil, fmt.Errorf("%q is a symbolic link, a FIFO or a socket; refusing to use it", path)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !isPrivate(fi) {
		err = fmt.Errorf("%q is %s of uid %d, mode %v: not one that only uid %d may write; refusing to use it", path, fileType(fi), fi.Sys().(*syscall.Stat_t).Uid, fi.Mode().Perm(), os.Geteuid())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// isPrivate reports whether fi is a regular file that only this user may write.
func isPrivate(fi fs.FileInfo) bool {
	owner := int(fi.Sys().(*syscall.Stat_t).Uid)
	return fi.Mode().IsRegular() && owner == os.Geteuid() && fi.Mode().Perm()&0o022 == 0
}
