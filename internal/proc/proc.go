// Package proc reads what Linux tells about a process under /proc: the
// fields of /proc/PID/stat, its descriptors, working directory, status lines
// and the file locks of /proc/locks. The step tests and the tour read /proc
// through this one package.
package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Stat holds the fields of /proc/PID/stat that the twelve recommendations
// are about (see proc(5)).
type Stat struct {
	Pid     int
	Comm    string // the executable's name, as the kernel keeps it (15 bytes at most)
	State   byte   // R running, S sleeping, Z zombie, T stopped, ...
	PPid    int    // the parent; 1 or a child subreaper once the parent has gone
	Pgrp    int    // the process group
	Session int    // the session
	TtyNr   int    // the controlling terminal's device number; 0 for none
	Utime   uint64 // clock ticks spent in user mode
	Stime   uint64 // clock ticks spent in kernel mode
}

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(string(b))
}

// ParseStat parses one /proc/PID/stat line. The command name sits in
// parentheses and may itself hold spaces and parentheses, so the fields are
// counted from the last ")".
func ParseStat(line string) (Stat, error) {
	open := strings.IndexByte(line, '(')
	end := strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return Stat{}, fmt.Errorf("parse stat %q: no command name", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return Stat{}, fmt.Errorf("parse stat %q: %w", line, err)
	}
	// After ")": state ppid pgrp session tty_nr tpgid flags minflt cminflt
	// majflt cmajflt utime stime ...
	f := strings.Fields(line[end+1:])
	if len(f) < 13 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("parse stat %q: too few fields", line)
	}
	s := Stat{Pid: pid, Comm: line[open+1 : end], State: f[0][0]}
	ints := []*int{&s.PPid, &s.Pgrp, &s.Session, &s.TtyNr}
	for i, p := range ints {
		if *p, err = strconv.Atoi(f[1+i]); err != nil {
			return Stat{}, fmt.Errorf("parse stat %q: %w", line, err)
		}
	}
	if s.Utime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("parse stat %q: %w", line, err)
	}
	if s.Stime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("parse stat %q: %w", line, err)
	}
	return s, nil
}

// All reads the stat of every process on the machine. Processes that end
// while it reads are left out.
func All() ([]Stat, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var all []Stat
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if s, err := ReadStat(pid); err == nil {
			all = append(all, s)
		}
	}
	return all, nil
}

// Children returns the processes whose parent is pid, zombies included.
//
// It reads /proc/PID/task/TID/children, one file per thread (a child
// belongs to the thread that forked it), rather than the stat of every
// process on the machine: a test polls this while hundreds of processes
// run. Each file is read with one read(2) (readAtOnce), so that its list
// is one pass of the kernel's. A kernel without those files (built without
// CONFIG_PROC_CHILDREN) gets the scan of every process.
func Children(pid int) ([]Stat, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	var kids []Stat
	for _, task := range tasks {
		list, err := readAtOnce(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()), 4<<10)
		if errors.Is(err, fs.ErrNotExist) {
			if _, statErr := os.Stat(fmt.Sprintf("/proc/%d/task/%s", pid, task.Name())); statErr == nil {
				return childrenByScan(pid) // the thread is there, its file is not
			}
			continue // the thread has ended
		}
		if err != nil {
			return nil, err
		}
		for _, field := range strings.Fields(list) {
			child, err := strconv.Atoi(field)
			if err != nil {
				return nil, fmt.Errorf("parse /proc/%d/task/%s/children: %w", pid, task.Name(), err)
			}
			if s, err := ReadStat(child); err == nil && s.PPid == pid {
				kids = append(kids, s)
			}
		}
	}
	return kids, nil
}

// childrenByScan finds the children of pid in the stat of every process.
func childrenByScan(pid int) ([]Stat, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	var kids []Stat
	for _, s := range all {
		if s.PPid == pid {
			kids = append(kids, s)
		}
	}
	return kids, nil
}

// NotReadable stands in Fds for a descriptor that is open but whose link
// could not be read. No link the kernel writes looks like it.
const NotReadable = "not readable"

// Fds maps each open descriptor of pid to what it refers to: a path such as
// "/dev/null", or "socket:[INODE]", "pipe:[INODE]", "anon_inode:[eventpoll]",
// or NotReadable.
func Fds(pid int) (map[int]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fds := make(map[int]string, len(ents))
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // closed while we looked
		case err != nil:
			// Denied (EACCES: another user's process, or pid 1 in a
			// container without CAP_SYS_PTRACE): open, but not ours to see.
			target = NotReadable
		}
		fds[fd] = target
	}
	return fds, nil
}

// SortedFds returns the descriptor numbers of fds in increasing order.
func SortedFds(fds map[int]string) []int {
	nums := make([]int, 0, len(fds))
	for fd := range fds {
		nums = append(nums, fd)
	}
	sort.Ints(nums)
	return nums
}

// Cwd returns the working directory of pid.
func Cwd(pid int) (string, error) {
	return os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
}

// Status returns the "Name: value" lines of /proc/PID/status, such as
// "Umask" ("0027") and "SigIgn" (a hexadecimal mask of ignored signals).
func Status(pid int) (map[string]string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	status := make(map[string]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), ":"); ok {
			status[name] = strings.TrimSpace(value)
		}
	}
	return status, sc.Err()
}

// SignalIgnored reports whether signal number sig is set in a SigIgn mask
// from Status: bit sig-1 of the hexadecimal number.
func SignalIgnored(sigIgn string, sig int) (bool, error) {
	mask, err := strconv.ParseUint(sigIgn, 16, 64)
	if err != nil {
		return false, fmt.Errorf("parse SigIgn %q: %w", sigIgn, err)
	}
	return mask&(1<<(sig-1)) != 0, nil
}

// Lock is one line of /proc/locks.
type Lock struct {
	Kind   string // FLOCK, POSIX or OFDLCK
	Access string // READ or WRITE
	Pid    int    // the process that took it (for FLOCK: as recorded then)
	Major  uint32 // the locked file's device
	Minor  uint32
	Inode  uint64 // and inode
	Line   string // the line as /proc/locks shows it, for evidence
}

// Locks reads the held locks of /proc/locks, leaving out the "->" lines of
// processes still waiting for one.
func Locks() ([]Lock, error) {
	text, err := readAtOnce("/proc/locks", 64<<10)
	if err != nil {
		return nil, err
	}
	var locks []Lock
	for _, line := range strings.Split(text, "\n") {
		// 1: FLOCK  ADVISORY  WRITE 12345 00:2b:67890 0 EOF
		f := strings.Fields(line)
		if len(f) < 6 || f[1] == "->" {
			continue
		}
		l, err := parseLock(f)
		if err != nil {
			return nil, fmt.Errorf("parse /proc/locks line %q: %w", line, err)
		}
		locks = append(locks, l)
	}
	return locks, nil
}

// readAtOnce reads a /proc file in a single read(2). The kernel produces
// such a file as it is read; split over several reads, as os.ReadFile does,
// a list that changes in between (locks taken and released) can come out
// with lines repeated or missing. It starts with a buffer of size bytes,
// and reads again with a larger one while the buffer comes back full.
func readAtOnce(path string, size int) (string, error) {
	for ; ; size *= 4 {
		text, full, err := readOnce(path, size)
		if err != nil || !full {
			return text, err
		}
	}
}

// readOnce makes one read(2) of up to size bytes from the start of the file
// at path, and reports whether it filled the buffer.
func readOnce(path string, size int) (text string, full bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	buf := make([]byte, size)
	n, err := f.Read(buf) // one read(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, fmt.Errorf("read %s: %w", path, err)
	}
	return string(buf[:n]), n == size, nil
}

func parseLock(f []string) (Lock, error) {
	l := Lock{Kind: f[1], Access: f[3], Line: strings.Join(f, " ")}
	var err error
	if l.Pid, err = strconv.Atoi(f[4]); err != nil {
		return l, err
	}
	dev := strings.Split(f[5], ":")
	if len(dev) != 3 {
		return l, errors.New("device and inode are not MAJOR:MINOR:INODE")
	}
	major, err := strconv.ParseUint(dev[0], 16, 32)
	if err != nil {
		return l, err
	}
	minor, err := strconv.ParseUint(dev[1], 16, 32)
	if err != nil {
		return l, err
	}
	if l.Inode, err = strconv.ParseUint(dev[2], 10, 64); err != nil {
		return l, err
	}
	l.Major, l.Minor = uint32(major), uint32(minor)
	return l, nil
}

// StatLine returns /proc/PID/stat as the kernel writes it, without the
// trailing newline, for showing as evidence.
func StatLine(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// Cmdline returns the arguments pid was started with. It is empty for a
// zombie or a kernel thread, which have no user memory left to read.
func Cmdline(pid int) ([]string, error) {
	return nulSeparated(fmt.Sprintf("/proc/%d/cmdline", pid))
}

// Environ returns the environment pid was started with, as NAME=value
// strings. It is what the process received from exec: a program that
// changes its environment later (os.Setenv) does not change this.
func Environ(pid int) ([]string, error) {
	return nulSeparated(fmt.Sprintf("/proc/%d/environ", pid))
}

// nulSeparated reads a file of NUL-terminated strings.
func nulSeparated(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list []string
	for _, s := range bytes.Split(bytes.TrimSuffix(b, []byte{0}), []byte{0}) {
		if len(s) > 0 {
			list = append(list, string(s))
		}
	}
	return list, nil
}

// Umask returns the file mode creation mask of pid, from the "Umask:" line
// of /proc/PID/status (Linux 4.7 and later).
func Umask(pid int) (int, error) {
	status, err := Status(pid)
	if err != nil {
		return 0, err
	}
	return ParseUmask(status)
}

// ParseUmask reads the "Umask" entry of a Status map.
func ParseUmask(status map[string]string) (int, error) {
	s, ok := status["Umask"]
	if !ok {
		return 0, fmt.Errorf("no Umask line in /proc/PID/status (Linux before 4.7)")
	}
	mask, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("parse Umask %q: %w", s, err)
	}
	return int(mask), nil
}

// TtyName names the terminal whose device number is ttyNr, as the tty_nr
// field of /proc/PID/stat gives it: "pts/3", "tty1", "ttyS0", "console",
// or "" for none. Other devices are named by number, "136:3".
func TtyName(ttyNr int) string {
	if ttyNr == 0 {
		return ""
	}
	// The encoding of new_encode_dev(): minor bits 0-7 and 20-31, major
	// bits 8-19.
	major := (ttyNr >> 8) & 0xfff
	minor := (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00)
	switch {
	case major >= 136 && major <= 143: // Unix98 pseudo-terminal slaves
		return fmt.Sprintf("pts/%d", (major-136)*256+minor)
	case major == 4 && minor < 64:
		return fmt.Sprintf("tty%d", minor)
	case major == 4:
		return fmt.Sprintf("ttyS%d", minor-64)
	case major == 5 && minor == 1:
		return "console"
	}
	return fmt.Sprintf("%d:%d", major, minor)
}
