// Package property holds one definition of each property a daemon has:
// the twelve recommendations of PROPERTIES.md, a function each
// (property.go), and daemon(7)'s points for a new-style daemon
// (newstyle.go). Each function reads what /proc showed of one process (a
// launch.Snapshot) and, when the caller launched it, what the launch saw,
// and says what it found, whether the property holds, and the evidence:
// the /proc lines it read. A student opens a function to learn how /proc
// shows the property. The step tests (through internal/daemontest), the
// tour and the labs all judge with these functions.
package property

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"daemon-steps/internal/launch"
	"daemon-steps/internal/proc"
	"daemon-steps/internal/syslogsink"
)

// Mark says whether a property holds of a process.
type Mark int

const (
	// NotShown: the check could not tell, and Cell.Why says why. It is never
	// a guess in disguise: "needs a launch" is one.
	NotShown Mark = iota
	Holds
	Fails
	// Classic: the property as the classic fork-setsid-fork recipe leaves
	// it, which this tutorial makes stricter (so far only property 5: the
	// grandchild stays in its session leader's group, pgid = sid != pid).
	// Neither a pass nor a failure.
	Classic
	// Manager: the service manager does it for a new-style daemon, which
	// no longer does it itself (daemon(7)). Neither a pass nor a failure.
	Manager
)

// Cell is what a check found out about one property of one process.
type Cell struct {
	Value    string   // what it observed, short: "ppid 1", "tty pts/3", "umask 0027"
	Mark     Mark     // whether the property holds
	Why      string   // why it is NotShown
	Evidence []string // the /proc lines it read, and the outcomes of what it did
	Command  string   // the shell command that shows it by hand
}

// Property is one of the twelve recommendations, as a check on a process.
type Property struct {
	N       int    // the step that makes it true: column N of the table
	Column  string // the table's heading
	Claim   string // what holds of a daemon that follows it
	Command string // how to see it by hand; {pid} is the pid
	Check   func(*Subject) Cell
	// ByManager is, for a recommendation that a service manager carries
	// out for a new-style daemon, what it shows in the table; "" for those
	// that stay the daemon's own job. Manager says how the manager does it
	// (daemon(7), systemd.exec(5), systemd.service(5)).
	ByManager, Manager string
}

// The twelve, one variable each, in the order of the steps: the test of a
// step requires its own to hold (daemontest's RequireHolds), and the tour
// shows each as a column. Each Check is the function below of the same
// name in lower case.
var (
	Parent = &Property{N: 1, Column: "parent", Claim: "its parent is not the launcher: the launcher returned and init or a subreaper adopted it",
		Command: "ps -o pid,ppid,pgid,sid,tty,stat,cmd -p {pid}", Check: parent,
		ByManager: "foreground", Manager: "a service manager starts the server itself and follows it in the foreground: no launcher returns (daemon(7); Type=notify waits for READY=1)"}
	InheritedFd = &Property{N: 2, Column: "fd 9", Claim: "it holds no descriptor that the launching shell left open",
		Command: "ls -l /proc/{pid}/fd", Check: inheritedFd,
		ByManager: "LISTEN_FDS", Manager: "the manager passes standard input, output and error, and the sockets that LISTEN_FDS counts, and no other descriptor (systemd.exec(5))"}
	NoTerminal = &Property{N: 3, Column: "terminal", Claim: "it has no controlling terminal, in a session other than the launcher's",
		Command: "ps -o pid,ppid,pgid,sid,tty,stat,cmd -p {pid}", Check: terminal,
		ByManager: "no tty", Manager: "the manager starts each service in a session of its own, with no controlling terminal (StandardInput=null, systemd.exec(5))"}
	RootDir = &Property{N: 4, Column: "cwd", Claim: "it works in /",
		Command: "ls -l /proc/{pid}/cwd", Check: cwd,
		ByManager: "WorkingDirectory=", Manager: "the manager starts the service in WorkingDirectory=, / unless set (systemd.exec(5))"}
	OwnGroup = &Property{N: 5, Column: "group", Claim: "it leads a process group of its own but not its session",
		Command: "ps -o pid,ppid,pgid,sid,tty,stat,cmd -p {pid}", Check: group,
		ByManager: "own session", Manager: "the manager starts each service as the leader of a session and process group of its own, in a cgroup of its own that it stops as a whole (KillMode=, systemd.kill(5))"}
	StdFiles = &Property{N: 6, Column: "0/1/2", Claim: "its standard input, output and error are /dev/null (error may be its log)",
		Command: "ls -l /proc/{pid}/fd/0 /proc/{pid}/fd/1 /proc/{pid}/fd/2", Check: stdFiles,
		ByManager: "StandardError=", Manager: "the manager connects standard input to /dev/null, and standard output and error to its journal (StandardInput=, StandardOutput=, StandardError=)"}
	Lock = &Property{N: 7, Column: "lock", Claim: "it holds a lock on its pid file, so a second copy refuses to start",
		Command: "cat /proc/locks", Check: lock,
		ByManager: "one unit", Manager: "the manager runs at most one copy of a unit: starting it again while it runs does nothing"}
	PidFile = &Property{N: 8, Column: "pid file", Claim: "its pid file holds its pid",
		Command: "cat PIDFILE", Check: pidFile,
		ByManager: "MainPID", Manager: "the manager knows the pid it started (systemctl show -p MainPID echod); a pid file is for daemons that fork (PIDFile=, systemd.service(5))"}
	Umask = &Property{N: 9, Column: "umask", Claim: "its umask takes write from group and everything from others (027)",
		Command: "grep -E 'Umask|SigIgn' /proc/{pid}/status", Check: umask,
		ByManager: "", Manager: ""}
	Signals = &Property{N: 10, Column: "signals", Claim: "it ignores SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU and SIGPIPE; SIGTERM ends it cleanly",
		Command: "grep -E 'Umask|SigIgn' /proc/{pid}/status", Check: signals,
		ByManager: "", Manager: ""}
	Syslog = &Property{N: 11, Column: "syslog", Claim: "it reports to syslog, facility daemon, tagged NAME[PID]",
		Command: "journalctl -t echod -n 5   # or: grep 'echod\\[' /var/log/syslog", Check: syslog,
		ByManager: "stderr <N>", Manager: `the server writes "<N>message" lines to standard error, and the journal reads N as the priority (sd-daemon(3)): journalctl -u echod shows them`}
	NoZombies = &Property{N: 12, Column: "zombies", Claim: "it leaves no zombie child",
		Command: "ps -o pid,ppid,stat,cmd --ppid {pid}", Check: zombies,
		ByManager: "", Manager: ""}
)

// Properties are the twelve of PROPERTIES.md, in the order of the steps.
var Properties = [...]*Property{Parent, InheritedFd, NoTerminal, RootDir, OwnGroup, StdFiles,
	Lock, PidFile, Umask, Signals, Syslog, NoZombies}

// Subject is a process to check: what /proc showed of it and, when the caller
// (the tour, a test) launched it, what the launch showed.
type Subject struct {
	Snap   launch.Snapshot
	Launch *Launch // nil for a process the caller did not start (tour -pid)
}

// Launch is a launch as a check reads it: what it was given and what it
// saw.
type Launch struct {
	*launch.Setup
	*launch.Seen
}

// Check evaluates every property of s.
func Check(s *Subject) [len(Properties)]Cell {
	var cells [len(Properties)]Cell
	for i, p := range Properties {
		var c Cell
		if s.Launch != nil && s.Launch.NewStyle && p.ByManager != "" {
			c = managerCell(s, p)
			if c.Command == "" {
				c.Command = p.commandFor(s)
			}
		} else {
			c = p.Judge(s)
		}
		cells[i] = c
	}
	return cells
}

// Judge checks p of s, and says how to see it by hand.
func (p *Property) Judge(s *Subject) Cell {
	c := p.Check(s)
	if c.Command == "" {
		c.Command = p.commandFor(s)
	}
	return c
}

// commandFor is p's command by hand for the process of s.
func (p *Property) commandFor(s *Subject) string {
	return strings.ReplaceAll(p.Command, "{pid}", strconv.Itoa(s.Snap.Pid))
}

// managerCell is property p of a new-style daemon, for which the service
// manager does what the recommendation asks: what the manager does, and
// what /proc and the launch showed of it.
func managerCell(s *Subject, p *Property) Cell {
	ev := []string{p.Manager}
	switch p.N {
	case 1:
		var told []string
		for _, msg := range s.Launch.Notifications() {
			for _, line := range strings.Split(msg, "\n") {
				if name, _, _ := strings.Cut(line, "="); name != "STATUS" {
					told = append(told, line)
				}
			}
		}
		ev = append(ev, s.statEvidence(), "it stayed in the foreground, and told $NOTIFY_SOCKET "+strings.Join(told, ", "))
	case 2, 6:
		if fds, err := s.Snap.FdsOrErr(); err == nil {
			var all []string
			for _, fd := range proc.SortedFds(fds) {
				all = append(all, fmt.Sprintf("%d -> %s", fd, s.shortFile(fds[fd])))
			}
			ev = append(ev, fmt.Sprintf("/proc/%d/fd: %s", s.Snap.Pid, strings.Join(all, ", ")))
		}
	case 3, 5:
		ev = append(ev, s.statEvidence())
	case 4:
		if cwd, err := s.Snap.CwdOrErr(); err == nil {
			ev = append(ev, fmt.Sprintf("/proc/%d/cwd -> %s: where the tour started it", s.Snap.Pid, cwd))
		}
	case 11:
		for _, line := range strings.Split(s.Launch.Stderr(), "\n") {
			if strings.HasPrefix(line, "<") {
				ev = append(ev, fmt.Sprintf("its standard error begins %q", line))
				break
			}
		}
	}
	return Cell{Value: p.ByManager, Mark: Manager, Evidence: ev}
}

// The reasons a cell is not shown.
const (
	WhyNeedsLaunch = "needs a launch"
	WhyNoUmask     = "no Umask line in /proc/PID/status (Linux before 4.7)"
)

func holds(value string, evidence ...string) Cell {
	return Cell{Value: value, Mark: Holds, Evidence: evidence}
}

func fails(value string, evidence ...string) Cell {
	return Cell{Value: value, Mark: Fails, Evidence: evidence}
}

func markIf(ok bool, value string, evidence ...string) Cell {
	if ok {
		return holds(value, evidence...)
	}
	return fails(value, evidence...)
}

// Unshown is a cell that could not be shown, and why: every cell of a step
// that could not be launched.
func Unshown(why string) Cell { return notShown(why) }

func notShown(why string, evidence ...string) Cell {
	return Cell{Value: "not shown", Mark: NotShown, Why: why, Evidence: evidence}
}

// needsLaunch marks a property that only launching the program can show.
func needsLaunch(evidence ...string) Cell {
	c := notShown(WhyNeedsLaunch, evidence...)
	c.Value = WhyNeedsLaunch
	return c
}

// statEvidence quotes /proc/PID/stat up to tpgid, the fields that the
// recommendations are about.
func (s *Subject) statEvidence() string {
	line := s.Snap.StatLine
	if end := strings.LastIndexByte(line, ')'); end >= 0 {
		// state ppid pgrp session tty_nr tpgid
		if f := strings.Fields(line[end+1:]); len(f) > 6 {
			line = line[:end+1] + " " + strings.Join(f[:6], " ") + " …"
		}
	}
	return fmt.Sprintf("/proc/%d/stat: %s", s.Snap.Pid, line)
}

// IdsEvidence spells out the stat fields that statEvidence quotes.
func IdsEvidence(st proc.Stat) string {
	tty := proc.TtyName(st.TtyNr)
	if tty == "" {
		tty = "none"
	}
	return fmt.Sprintf("that is: pid %d, ppid %d, process group %d, session %d, terminal %s (tty_nr %d)",
		st.Pid, st.PPid, st.Pgrp, st.Session, tty, st.TtyNr)
}

func parent(s *Subject) Cell {
	st, err := s.Snap.StatOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	ev := []string{s.statEvidence()}
	if s.Launch == nil {
		return parentFromProc(s, st, ev)
	}
	l := s.Launch
	value := fmt.Sprintf("ppid %d", st.PPid)
	switch st.PPid {
	case l.Tour:
		value += " (" + l.TourName + ")"
		ev = append(ev, fmt.Sprintf("pid %d is the %s itself, a child subreaper (prctl PR_SET_CHILD_SUBREAPER): a process orphaned below it comes to it instead of init, so that it can reap it", l.Tour, l.TourName))
	case 1:
		value += " (init)"
	}
	ev = append(ev, fmt.Sprintf("the launcher, pid %d, returned to the shell with status %d", l.Launcher, l.Status))
	adopted := st.PPid == 1 || st.PPid == l.Tour
	if !adopted {
		ev = append(ev, fmt.Sprintf("its parent must be init (1) or the launching program %d, a child subreaper, which adopt orphans", l.Tour))
	}
	return markIf(l.Status == 0 && st.PPid != l.Launcher && adopted, value, ev...)
}

// parentFromProc judges the parent of a process that the tour did not
// launch, and so whose launcher it does not know.
func parentFromProc(s *Subject, st proc.Stat, ev []string) Cell {
	if st.PPid == 0 {
		return notShown(fmt.Sprintf("pid %d has no parent: it is init or a kernel thread", st.Pid), ev...)
	}
	value := fmt.Sprintf("ppid %d", st.PPid)
	if s.Snap.ParentErr == nil {
		value += " (" + s.Snap.Parent.Comm + ")"
	}
	if st.PPid == 1 {
		return holds(value, append(ev, "its parent is init: whoever started it has gone, or init started it")...)
	}
	return fails(value, append(ev, "a supervisor or a child subreaper as parent (systemd --user, runit, a container's init) may also mean that the launcher has gone; /proc does not say which a process is")...)
}

func inheritedFd(s *Subject) Cell {
	fds, err := s.Snap.FdsOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	var ev []string
	var unreadable []string
	for _, fd := range proc.SortedFds(fds) {
		switch {
		case fd < 3:
		case fds[fd] == proc.NotReadable:
			unreadable = append(unreadable, strconv.Itoa(fd))
		default:
			ev = append(ev, fmt.Sprintf("/proc/%d/fd/%d -> %s", s.Snap.Pid, fd, fds[fd]))
		}
	}
	if len(unreadable) > 0 {
		ev = append(ev, fmt.Sprintf("/proc/%d/fd/N: permission denied for N = %s", s.Snap.Pid, strings.Join(unreadable, " ")))
	}
	if s.Launch == nil || s.Launch.Leaked == "" {
		return needsLaunch(append(ev, "which of these it inherited, only a launch that leaves one open can tell")...)
	}
	l := s.Launch
	leaked := []string{fmt.Sprintf("the launcher inherited %s as descriptor %d, without close-on-exec", l.Leaked, launch.LeakedFd)}
	if l.LeakedPipe != "" {
		leaked = append(leaked, fmt.Sprintf("the launcher inherited %s as descriptor %d, without close-on-exec: above 1024, where a loop up to the usual \"ulimit -n\" stops", l.LeakedPipe, launch.PipeFd))
	}
	ev = append(leaked, ev...)
	for _, fd := range proc.SortedFds(fds) {
		if fds[fd] == l.Leaked || (l.LeakedPipe != "" && fds[fd] == l.LeakedPipe) {
			return fails(fmt.Sprintf("fd %d held", fd), ev...)
		}
	}
	return holds("not held", ev...)
}

func terminal(s *Subject) Cell {
	st, err := s.Snap.StatOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	ev := []string{s.statEvidence(), IdsEvidence(st)}
	tty := proc.TtyName(st.TtyNr)
	if s.Launch == nil {
		if tty != "" {
			return fails("tty "+tty, ev...)
		}
		// The launcher is not known here: the parent, if it is still there,
		// stands in for it.
		if s.Snap.ParentErr == nil {
			if s.Snap.Parent.Session == st.Session {
				return fails("parent's session", append(ev, fmt.Sprintf("its parent %d is in session %d too", st.PPid, st.Session))...)
			}
			ev = append(ev, fmt.Sprintf("its parent %d is in another session, %d", st.PPid, s.Snap.Parent.Session))
		}
		return holds("no tty", ev...)
	}
	l := s.Launch
	if l.Shell != 0 {
		ev = append(ev, fmt.Sprintf("the shell that launched it is pid %d, leader of session %d, on %s", l.Shell, l.Shell, l.Terminal))
	}
	if l.Hangup != nil {
		ev = append(ev, l.Hangup.String())
	}
	switch {
	case st.TtyNr != 0 && tty == "":
		return fails(fmt.Sprintf("tty_nr %d", st.TtyNr), ev...)
	case st.TtyNr != 0:
		return fails("tty "+tty, ev...)
	case l.Shell != 0 && st.Session == l.Shell:
		return fails("shell's session", ev...)
	case l.Hangup != nil && !l.Hangup.Survived:
		return fails("hung up", ev...)
	}
	return holds("no tty", ev...)
}

func cwd(s *Subject) Cell {
	cwd, err := s.Snap.CwdOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	ev := []string{fmt.Sprintf("/proc/%d/cwd -> %s", s.Snap.Pid, cwd)}
	value := "cwd " + cwd
	if s.Launch != nil && cwd == s.Launch.Dir {
		value = "launch dir"
		ev = append(ev, "the directory the shell launched it from")
	}
	return markIf(cwd == "/", value, ev...)
}

func group(s *Subject) Cell {
	st, err := s.Snap.StatOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	ev := []string{s.statEvidence(), IdsEvidence(st)}
	if st.Session > 0 {
		ev = append(ev, fmt.Sprintf("kill -- -%d (its session's id, as a process group) reaches it: %v", st.Session, st.Pgrp == st.Session))
	}
	switch {
	case st.Session == st.Pid:
		return fails("leads session", ev...)
	case s.classicRecipe(st):
		return Cell{Value: "session's group", Mark: Classic, Evidence: append(ev,
			"the classic fork-setsid-fork result: the grandchild stays in the group of the session leader that forked it (pgid = sid != pid); this tutorial's step 05 goes further and gives it a group of its own, so that kill -- -SID misses it")}
	case st.Pgrp != st.Pid:
		return fails(fmt.Sprintf("group %d", st.Pgrp), ev...)
	}
	return holds("leads group", ev...)
}

// classicRecipe reports whether st is where the classic fork-setsid-fork
// recipe leaves a daemon: in a session without a terminal that it does
// not lead, in the group of that session's leader. A process still in its
// launching shell's session and group (steps 01 and 02) is not.
func (s *Subject) classicRecipe(st proc.Stat) bool {
	detached := st.TtyNr == 0 && (s.Launch == nil || st.Session != s.Launch.Shell)
	return detached && st.Session > 0 && st.Pgrp == st.Session && st.Session != st.Pid
}

func stdFiles(s *Subject) Cell {
	fds, err := s.Snap.FdsOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	var targets [3]string
	var ev []string
	unreadable := false
	for fd := range targets {
		t, ok := fds[fd]
		switch {
		case !ok:
			t = "closed"
		case t == proc.NotReadable:
			unreadable = true
		}
		targets[fd] = t
		ev = append(ev, fmt.Sprintf("/proc/%d/fd/%d -> %s", s.Snap.Pid, fd, t))
	}
	isLog := func(t string) bool {
		if s.Launch != nil {
			return t == s.Launch.Log
		}
		return strings.HasPrefix(t, "/") && !strings.HasPrefix(t, "/dev/")
	}
	var short [3]string
	wrong := false
	for fd, t := range targets {
		short[fd] = s.shortFile(t)
		wrong = wrong || (t != proc.NotReadable && t != os.DevNull && !(fd == 2 && isLog(t)))
	}
	if unreadable && !wrong {
		// Denied is not closed: a process may have been given /dev/null
		// where the tour may not look (EACCES from readlink, as for
		// another user's process, or pid 1 in a container).
		c := notShown("a descriptor's link could not be read (permission denied)", ev...)
		c.Value = SummarizeFds(short)
		return c
	}
	return markIf(!wrong, SummarizeFds(short), ev...)
}

// shortFile names what a descriptor refers to in a few characters.
func (s *Subject) shortFile(target string) string {
	switch {
	case target == os.DevNull:
		return "null"
	case target == proc.NotReadable:
		return "unreadable"
	case strings.HasPrefix(target, "/dev/pts/"):
		return strings.TrimPrefix(target, "/dev/")
	case s.Launch != nil && target == s.Launch.Log:
		return "log"
	case strings.HasPrefix(target, "socket:"):
		return "socket"
	case strings.HasPrefix(target, "pipe:"):
		return "pipe"
	case strings.HasPrefix(target, "/"):
		return filepath.Base(target)
	}
	return target
}

// SummarizeFds writes descriptors 0, 1 and 2 as "0-2 null" when they agree,
// and "0,1 null 2 log" when they do not.
func SummarizeFds(names [3]string) string {
	switch {
	case names[0] == names[1] && names[1] == names[2]:
		return "0-2 " + names[0]
	case names[0] == names[1]:
		return "0,1 " + names[0] + " 2 " + names[2]
	case names[1] == names[2]:
		return "0 " + names[0] + " 1,2 " + names[1]
	}
	return "0 " + names[0] + " 1 " + names[1] + " 2 " + names[2]
}

func lock(s *Subject) Cell {
	locks, err := s.Snap.LocksOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	if s.Launch == nil {
		return lockFromProc(s, locks)
	}
	l := s.Launch
	if !l.Flags["pidfile"] {
		return fails("no -pidfile", "the program has no -pidfile flag: nothing stops a second copy")
	}
	if l.PidFileID == nil {
		return fails("no pid file", fmt.Sprintf("%s: %v", l.PidFile, l.PidFileErr))
	}
	ev := []string{fmt.Sprintf("%s is file %s", l.PidFile, l.PidFileID)}
	// One write lock on the file, and the server's own: a lock that its
	// launcher took and handed down would name the launcher.
	var writers []proc.Lock
	for _, lk := range locks {
		if l.PidFileID.Is(lk) {
			ev = append(ev, "/proc/locks: "+lk.Line)
			if lk.Access == "WRITE" {
				writers = append(writers, lk)
			}
		}
	}
	if l.SecondCopy != nil {
		ev = append(ev, l.SecondCopy.String())
	}
	switch {
	case len(writers) == 0:
		return fails("no lock", append(ev, "/proc/locks lists no write lock on it")...)
	case len(writers) > 1:
		return fails(fmt.Sprintf("%d locks", len(writers)), append(ev, "/proc/locks lists more than one write lock on it")...)
	case writers[0].Pid != s.Snap.Pid:
		return fails(fmt.Sprintf("locked by %d", writers[0].Pid), ev...)
	case l.SecondCopy != nil && !l.SecondCopy.Refused():
		return fails("2nd copy ran", ev...)
	}
	return holds(strings.ToLower(writers[0].Kind), ev...)
}

// lockFromProc finds the locks that a process the tour did not launch
// holds: those /proc/locks names it in, and those on the files it has open
// (an OFD lock names no process, and an flock names the one that took it).
func lockFromProc(s *Subject, locks []proc.Lock) Cell {
	files := s.Snap.OpenFiles
	var held []string
	var ev []string
	for _, l := range locks {
		path, open := files[launch.IDOf(l)]
		if l.Pid != s.Snap.Pid && !open {
			continue
		}
		if path == "" {
			path = "inode " + strconv.FormatUint(l.Inode, 10)
		}
		held = append(held, strings.ToLower(l.Kind)+" "+path)
		ev = append(ev, "/proc/locks: "+l.Line, fmt.Sprintf("  on %s", path))
	}
	ev = append(ev, "whether a second copy refuses to start: "+WhyNeedsLaunch)
	if len(held) == 0 {
		ev = append([]string{"/proc/locks lists no lock of it, nor on a file it has open"}, ev...)
		if s.fdsUnreadable() {
			return notShown("its descriptors could not be read, so neither could the files it has open", ev...)
		}
		return fails("no lock", ev...)
	}
	return holds(held[0], ev...)
}

func pidFile(s *Subject) Cell {
	if s.Launch == nil {
		return pidFileFromProc(s)
	}
	l := s.Launch
	if !l.Flags["pidfile"] {
		return fails("no -pidfile", "the program has no -pidfile flag")
	}
	c := pidFileCell(l.PidFileText, l.PidFileErr, s.Snap.Pid)
	c.Evidence = append([]string{fmt.Sprintf("%s: %q", l.PidFile, l.PidFileText)}, c.Evidence...)
	c.Command = "cat " + l.PidFile
	return c
}

// pidFileCell judges the text of a pid file.
func pidFileCell(text string, err error, pid int) Cell {
	want := strconv.Itoa(pid) + "\n"
	switch {
	case err != nil:
		return fails("missing", err.Error())
	case text == want:
		return holds("pid " + strconv.Itoa(pid))
	case text == "":
		return fails("empty")
	}
	return fails(fmt.Sprintf("%.12q", text), fmt.Sprintf("it should hold %q", want))
}

// pidFileFromProc judges the pid file of a process the tour did not
// launch: the one findPidFile finds, if any.
func pidFileFromProc(s *Subject) Cell {
	path, text, why, ok := s.findPidFile()
	if ok {
		cell := holds(path, fmt.Sprintf("%s: %q", path, text), why)
		cell.Command = "cat " + path
		return cell
	}
	want := strconv.Itoa(s.Snap.Pid)
	ev := []string{noPidFileFound(want)}
	_, lockedElsewhere := s.lockedFiles()
	for _, l := range lockedElsewhere {
		ev = append(ev, "/proc/locks names it on a file it has not open: "+l.Line)
	}
	c := notShown("no pid file found", ev...)
	c.Command = "grep -lx " + want + " /run/*.pid /run/*/*.pid"
	return c
}

// noPidFileFound says where findPidFile looked for a file holding pid.
func noPidFileFound(pid string) string {
	return fmt.Sprintf("none of the files it locks or has open, nor /run/*.pid, /run/*/*.pid, holds %s; it may write one elsewhere", pid)
}

// findPidFile looks for the pid file of a process the tour did not
// launch, where a daemon keeps one: a file it holds a lock on (in
// /proc/locks, by its pid or on a file it has open), any other regular
// file it has open, then the usual places under /run. The first that
// holds its pid is its pid file: its path, its text, and why it was
// looked at.
func (s *Subject) findPidFile() (path, text, why string, ok bool) {
	type candidate struct{ path, why string }
	var candidates []candidate
	locked, _ := s.lockedFiles()
	for _, path := range locked {
		candidates = append(candidates, candidate{path, "it holds a lock on it (/proc/locks)"})
	}
	for _, path := range sortedValues(s.Snap.OpenFiles) {
		candidates = append(candidates, candidate{path, "it has it open (/proc/" + strconv.Itoa(s.Snap.Pid) + "/fd)"})
	}
	for _, pattern := range []string{"/run/*.pid", "/run/*/*.pid", "/var/run/*.pid"} {
		m, _ := filepath.Glob(pattern)
		for _, path := range m {
			candidates = append(candidates, candidate{path, "found under /run"})
		}
	}
	want := strconv.Itoa(s.Snap.Pid)
	for _, c := range candidates {
		if text, ok := readPidFile(c.path); ok && strings.TrimSpace(text) == want {
			return c.path, text, c.why, true
		}
	}
	return "", "", "", false
}

// readPidFile reads the start of the regular file at path: enough for a
// pid, and never a large log whole.
func readPidFile(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	buf := make([]byte, 32)
	n, _ := f.Read(buf)
	return string(buf[:n]), n > 0
}

// sortedValues returns the paths of files in order, for a stable search.
func sortedValues(files map[launch.FileID]string) []string {
	var paths []string
	for _, p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// lockedFiles returns the paths of the open files of s that /proc/locks
// lists a lock on, and the locks that name s's pid on files it does not
// have open (a lock taken before a fork, an flock on a descriptor closed
// since).
func (s *Subject) lockedFiles() (paths []string, elsewhere []proc.Lock) {
	for _, l := range s.Snap.Locks {
		if path, ok := s.Snap.OpenFiles[launch.IDOf(l)]; ok {
			paths = append(paths, path)
		} else if l.Pid == s.Snap.Pid {
			elsewhere = append(elsewhere, l)
		}
	}
	return paths, elsewhere
}

func umask(s *Subject) Cell {
	status, err := s.Snap.StatusOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	mask, err := proc.ParseUmask(status)
	if err != nil {
		return notShown(WhyNoUmask)
	}
	ev := []string{fmt.Sprintf("/proc/%d/status: Umask: %s", s.Snap.Pid, status["Umask"])}
	// A process found by pid passes with any umask at least as strict; the
	// program a launch starts must set exactly 027, as its step does.
	ok := mask&0o027 == 0o027
	if l := s.Launch; l != nil {
		ok = mask == 0o027
		if l.Umask != "" {
			ev = append([]string{"launched under umask " + l.Umask}, ev...)
		}
		if l.NewStyle {
			ev = append(ev, "its socket is the manager's, made with the manager's umask (SocketMode= sets its mode)")
		} else if l.SocketErr == nil {
			ev = append(ev, fmt.Sprintf("its socket %s: %s", l.Socket, lsMode(l.SocketMode)))
			ok = ok && l.SocketMode&0o002 == 0
		}
	}
	return markIf(ok, fmt.Sprintf("umask %04o", mask), ev...)
}

// lsMode writes a file mode as ls -l does: "srwxr-x---" for a socket.
func lsMode(m fs.FileMode) string {
	perm := m.Perm().String()[1:]
	switch {
	case m&fs.ModeSocket != 0:
		return "s" + perm
	case m.IsDir():
		return "d" + perm
	case m.IsRegular():
		return "-" + perm
	}
	return m.String()
}

// terminalSignals are the signals recommendation 10 has a daemon ignore.
var terminalSignals = []unix.Signal{unix.SIGHUP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGPIPE}

func signals(s *Subject) Cell {
	status, err := s.Snap.StatusOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	ignored, err := signalsIn(status["SigIgn"])
	if err != nil {
		return notShown(err.Error())
	}
	caught, _ := signalsIn(status["SigCgt"])
	ev := []string{
		fmt.Sprintf("/proc/%d/status: SigIgn: %s", s.Snap.Pid, status["SigIgn"]),
		"ignored of the five: " + signalNames(ignored),
	}
	if len(caught) > 0 {
		ev = append(ev, "caught (a handler runs; /proc cannot tell whether it exits): "+signalNames(caught))
	}
	ok := len(ignored) == len(terminalSignals)
	if l := s.Launch; l != nil {
		if l.Term != nil {
			ev = append(ev, l.Term.String())
			ok = ok && l.Term.Clean()
		} else if l.TermSkipped != "" {
			ev = append(ev, "not sent SIGTERM: "+l.TermSkipped)
		}
	}
	return markIf(ok, fmt.Sprintf("%d/%d ignored", len(ignored), len(terminalSignals)), ev...)
}

// signalsIn returns which of terminalSignals a SigIgn or SigCgt mask holds.
func signalsIn(mask string) ([]unix.Signal, error) {
	var in []unix.Signal
	for _, sig := range terminalSignals {
		set, err := proc.SignalIgnored(mask, int(sig))
		if err != nil {
			return nil, err
		}
		if set {
			in = append(in, sig)
		}
	}
	return in, nil
}

func signalNames(sigs []unix.Signal) string {
	if len(sigs) == 0 {
		return "none"
	}
	var names []string
	for _, s := range sigs {
		names = append(names, strings.TrimPrefix(unix.SignalName(s), "SIG"))
	}
	return strings.Join(names, " ")
}

func syslog(s *Subject) Cell {
	if s.Launch == nil {
		return needsLaunch("its messages go wherever it sends them; the tour listens on a -syslog socket of its own only for the steps it launches")
	}
	l := s.Launch
	if !l.Flags["syslog"] {
		return fails("no -syslog", "the program has no -syslog flag; nothing came to the socket the tour bound")
	}
	var mine []syslogsink.Message
	var ev []string
	for _, raw := range l.SyslogMessages() {
		ev = append(ev, fmt.Sprintf("datagram on %s: %q", l.Paths.Syslog, raw))
		if m, err := syslogsink.Parse(raw); err == nil && m.Pid == s.Snap.Pid {
			mine = append(mine, m)
		}
	}
	if len(mine) == 0 {
		return fails("silent", append(ev, fmt.Sprintf("no RFC 3164 datagram tagged NAME[%d]", s.Snap.Pid))...)
	}
	for _, m := range mine {
		if m.Facility != syslogsink.FacilityDaemon {
			return fails("not daemon", append(ev, fmt.Sprintf("%q: facility %d, not %d (daemon)", m.Text, m.Facility, syslogsink.FacilityDaemon))...)
		}
	}
	return holds(fmt.Sprintf("%d messages", len(mine)), ev...)
}

func zombies(s *Subject) Cell {
	kids, err := s.Snap.ChildrenOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	var zombies []proc.Stat
	for _, k := range kids {
		if k.State == 'Z' {
			zombies = append(zombies, k)
		}
	}
	// By pid, as a tree draws them: /proc lists children thread by thread.
	sort.Slice(zombies, func(i, j int) bool { return zombies[i].Pid < zombies[j].Pid })
	var ev []string
	for _, k := range zombies {
		ev = append(ev, fmt.Sprintf("/proc/%d/stat: %d (%s) Z %d …", k.Pid, k.Pid, k.Comm, k.PPid))
	}
	value := fmt.Sprintf("%d zombies", len(zombies))
	if len(zombies) == 1 {
		value = "1 zombie"
	}
	if s.Launch == nil {
		ev = append(ev, fmt.Sprintf("%d children now, %d of them zombies: a snapshot, not a history", len(kids), len(zombies)))
		return markIf(len(zombies) == 0, value, ev...)
	}
	l := s.Launch
	if l.Connections != "" {
		ev = append([]string{l.Connections}, ev...)
	}
	if !l.WorkersSettled {
		return notShown(fmt.Sprintf("its workers had not all finished within %v", launch.Settle), ev...)
	}
	return markIf(len(zombies) == 0, value, ev...)
}

// fdsUnreadable reports whether some descriptor of s could not be read.
func (s *Subject) fdsUnreadable() bool {
	for _, t := range s.Snap.Fds {
		if t == proc.NotReadable {
			return true
		}
	}
	return false
}
