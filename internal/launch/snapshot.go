package launch

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/sys/unix"

	"daemon-steps/internal/proc"
)

// Snapshot is what /proc shows of one process at one moment. Each part
// keeps its own error, so that a part the tour may not read (another
// user's descriptors, say) leaves only its own properties unshown.
type Snapshot struct {
	Pid         int
	Stat        proc.Stat
	StatLine    string
	StatErr     error
	Cmdline     []string
	Environ     []string // NAME=value, as exec gave it (daemon(7)'s new-style list reads it)
	EnvironErr  error
	Parent      proc.Stat // the parent's stat, for its name and session
	ParentErr   error
	Leader      proc.Stat // its session leader's stat, when it is not the leader itself
	LeaderErr   error
	Status      map[string]string
	StatusErr   error
	Fds         map[int]string
	FdsErr      error
	OpenFiles   map[FileID]string // the files its descriptors refer to, by device and inode
	Cwd         string
	CwdErr      error
	Locks       []proc.Lock // the locks /proc/locks lists: those of this pid namespace's processes (proc(5))
	LocksErr    error
	Children    []proc.Stat // zombies included
	ChildrenErr error
}

// errNoProcess reports a pid that names no process.
var errNoProcess = errors.New("no such process")

// TakeSnapshot reads /proc for pid. It fails only when there is no such
// process; what it cannot read of one that exists, it records.
func TakeSnapshot(pid int) (Snapshot, error) {
	s := Snapshot{Pid: pid}
	s.StatLine, s.StatErr = proc.StatLine(pid)
	if errors.Is(s.StatErr, fs.ErrNotExist) {
		return s, fmt.Errorf("pid %d: %w", pid, errNoProcess)
	}
	if s.StatErr == nil {
		s.Stat, s.StatErr = proc.ParseStat(s.StatLine)
	}
	s.Cmdline, _ = proc.Cmdline(pid)
	s.Environ, s.EnvironErr = proc.Environ(pid)
	if s.StatErr == nil && s.Stat.PPid > 0 {
		s.Parent, s.ParentErr = proc.ReadStat(s.Stat.PPid)
	} else {
		s.ParentErr = errors.New("no parent")
	}
	switch {
	case s.StatErr != nil || s.Stat.Session <= 0:
		s.LeaderErr = errors.New("no session it can see")
	case s.Stat.Session == pid:
		s.Leader = s.Stat
	default:
		s.Leader, s.LeaderErr = proc.ReadStat(s.Stat.Session)
	}
	s.Status, s.StatusErr = proc.Status(pid)
	s.Fds, s.FdsErr = proc.Fds(pid)
	s.OpenFiles = openFiles(pid, s.Fds)
	s.Cwd, s.CwdErr = proc.Cwd(pid)
	s.Locks, s.LocksErr = proc.Locks()
	s.Children, s.ChildrenErr = proc.Children(pid)
	return s, nil
}

// The XOrErr accessors return a part with its error, wrapped to say what the
// tour was reading: "read /proc/42/fd: permission denied".
func (s *Snapshot) StatOrErr() (proc.Stat, error) {
	return s.Stat, readErr(s.StatErr, "read /proc/%d/stat", s.Pid)
}

func (s *Snapshot) StatusOrErr() (map[string]string, error) {
	return s.Status, readErr(s.StatusErr, "read /proc/%d/status", s.Pid)
}

func (s *Snapshot) FdsOrErr() (map[int]string, error) {
	return s.Fds, readErr(s.FdsErr, "read /proc/%d/fd", s.Pid)
}

func (s *Snapshot) EnvironOrErr() ([]string, error) {
	return s.Environ, readErr(s.EnvironErr, "read /proc/%d/environ", s.Pid)
}

func (s *Snapshot) CwdOrErr() (string, error) {
	return s.Cwd, readErr(s.CwdErr, "read /proc/%d/cwd", s.Pid)
}

func (s *Snapshot) LocksOrErr() ([]proc.Lock, error) {
	return s.Locks, readErr(s.LocksErr, "read /proc/locks")
}

func (s *Snapshot) ChildrenOrErr() ([]proc.Stat, error) {
	return s.Children, readErr(s.ChildrenErr, "read /proc/*/stat")
}

func readErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	// A *PathError already names the file, and the message names it too.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

// Command returns the command line of the snapshot's process, or its name
// in brackets when it has none to show (a zombie, a kernel thread).
func (s *Snapshot) Command() string {
	if len(s.Cmdline) > 0 {
		return strings.Join(s.Cmdline, " ")
	}
	return "[" + s.Stat.Comm + "]"
}

// FileID names a file as /proc/locks does: by device and inode.
type FileID struct {
	Major, Minor uint32
	Inode        uint64
}

func (id FileID) String() string {
	return fmt.Sprintf("%02x:%02x:%d", id.Major, id.Minor, id.Inode)
}

// Is reports whether lock l is on the file id.
func (id FileID) Is(l proc.Lock) bool { return id == IDOf(l) }

// IDOf names the file that lock l is on.
func IDOf(l proc.Lock) FileID { return FileID{l.Major, l.Minor, l.Inode} }

// StatID returns the device and inode of the file at path.
func StatID(path string) (FileID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return FileID{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return FileID{unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino}, nil
}

// openFiles maps the files that pid's descriptors refer to by their device
// and inode, which is how /proc/locks names a locked file. /proc/PID/fd/N
// reaches the open file itself, even when its name is gone.
func openFiles(pid int, fds map[int]string) map[FileID]string {
	files := make(map[FileID]string)
	for fd, target := range fds {
		if !strings.HasPrefix(target, "/") {
			continue // a socket, pipe or anonymous inode: not lockable by name
		}
		if id, err := StatID(fmt.Sprintf("/proc/%d/fd/%d", pid, fd)); err == nil {
			files[id] = target
		}
	}
	return files
}
