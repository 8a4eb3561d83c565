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
// server runs (recommendation 7). The caller keeps the file open for as
// long as the server runs.
//
// The lock is an flock(2) on the open file, taken by the server itself:
// the kernel releases it when the last descriptor of that open file
// closes, however the server ends, so it never goes stale the way a pid
// written in a file can. Two traps are avoided here:
//
//   - A lock taken by the launcher would stay with the file that the
//     server inherited, but /proc/locks would keep naming the launcher's
//     pid, long gone. (An fcntl(2) lock would not reach the server at all:
//     it belongs to a process and is dropped by fork.)
//   - The descriptor is close-on-exec, as every file Go opens is. Were it
//     inherited by the workers, any worker still serving a connection would
//     keep the lock after the server was killed, and no new copy could start.
func lockPidFile(path string) (*os.File, error) {
	for {
		f, err := openRegularFile(path, os.O_RDWR|os.O_CREATE)
		if err != nil {
			return nil, fmt.Errorf("pid file: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			holder := lockHolder(f)
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) && holder > 0 {
				return nil, fmt.Errorf("another copy is running: %s is locked by pid %d", path, holder)
			}
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("another copy is running: %s is locked", path)
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// A server that shuts down removes its pid file while it still
		// holds the lock. If that happened between our open and our lock,
		// we hold a lock on a file that is no longer at path: open again.
		atPath, err := sameFile(f, path)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("pid file: %w", err)
		}
		if atPath {
			return f, nil
		}
		f.Close()
	}
}

// openRegularFile opens the file at path without following a symbolic link,
// and refuses anything but a regular file. /tmp is writable by every user:
// another may have put a link to one of your files there, or a FIFO, or a
// device, hoping that a daemon running as root writes to it. O_NONBLOCK
// keeps the open of a FIFO from waiting for a reader; on a regular file it
// changes nothing.
func openRegularFile(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link; refusing to follow it", path)
	}
	if errors.Is(err, syscall.ENXIO) {
		return nil, fmt.Errorf("%s is a FIFO or a socket, not a regular file; refusing to use it", path)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is %s, not a regular file; refusing to use it", path, fileType(fi))
	}
	return f, nil
}

// sameFile reports whether f is still the file at path.
func sameFile(f *os.File, path string) (bool, error) {
	open, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(open, now), nil
}

// lockHolder returns the pid that /proc/locks names as holding an flock on
// f's file, or 0 if it names none.
func lockHolder(f *os.File) int {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0
	}
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return 0
	}
	file := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	for _, line := range strings.Split(string(locks), "\n") {
		// 1: FLOCK  ADVISORY  WRITE 12345 00:2b:67890 0 EOF
		field := strings.Fields(line)
		if len(field) >= 6 && field[1] == "FLOCK" && field[5] == file {
			pid, _ := strconv.Atoi(field[4])
			return pid
		}
	}
	return 0
}
