package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
//
// flock(2) needs only a descriptor, and a read-only one will do: anyone who
// can open the file can hold its lock, and keep every start out. So the pid
// file is created 0600, and one that group or others may read is refused.
func lockPidFile(path string) (*os.File, error) {
	f, err := openPrivateFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = checkUnreadable(f)
	}
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
// the check. O_NOFOLLOW guards the last name only: checkDirectories first
// makes sure that nobody else controls the directories on the way.
func openPrivateFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	if err := checkDirectories(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK, perm)
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
// that this user owns and that neither its group nor others may write. A
// file with a second name (a hard link) is refused too: another user may
// have linked a file of this user's there, for the server to write into.
func checkPrivate(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	owner := int(st.Uid)
	perm := fi.Mode().Perm()
	if fi.Mode().IsRegular() && st.Nlink > 1 {
		return fmt.Errorf("%q has %d links (another name for the same file); refusing to use it", f.Name(), st.Nlink)
	}
	if fi.Mode().IsRegular() && owner == os.Geteuid() && perm&0o022 == 0 {
		return nil
	}
	return fmt.Errorf("%q is %s of uid %d, mode %v: not one that only uid %d may write; refusing to use it",
		f.Name(), fileType(fi), owner, perm, os.Geteuid())
}

// checkUnreadable returns an error if the group or others may read the
// open file f: whoever can open it can hold its lock.
func checkUnreadable(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o044 != 0 {
		return fmt.Errorf("%q has mode %v: others may open it and hold its lock (flock needs only a read descriptor); refusing to use it", f.Name(), perm)
	}
	return nil
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
