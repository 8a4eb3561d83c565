package property

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"daemon-steps/internal/proc"
)

// NewStyleProperty is one point of daemon(7)'s list for new-style daemons
// ("New-Style Daemons"), as a check on a running process from /proc
// alone: what a daemon does when a service manager starts it, rather than
// the twelve things it does to start itself. Each check gives one line of
// evidence, and where /proc cannot tell, it says so (NotShown).
type NewStyleProperty struct {
	Label   string // a to f: apart from the twelve's numbers
	Column  string
	Claim   string
	Command string // how to see it by hand; {pid} is the pid
	Check   func(*Subject) Cell
}

// NewStyleProperties are the points of daemon(7)'s new-style list that
// /proc can show. Readiness (sd_notify) and logging with <N> prefixes are
// what a process sends, which /proc does not keep: point e shows only
// that the manager gave it somewhere to send them.
var NewStyleProperties = [...]NewStyleProperty{
	{"a", "manager", "it runs in the foreground as a service manager's child, not a shell's",
		"ps -o pid,comm -p $(ps -o ppid= -p {pid})", checkManagerParent},
	{"b", "no fork", "it has not double-forked away from what started it (fork, setsid, fork)",
		"ps -o pid,ppid,pgid,sid,cmd -p {pid}", checkNotForked},
	{"c", "pid file", "it writes no pid file: the manager knows its pid (systemctl show -p MainPID)",
		"grep -lx {pid} /run/*.pid /run/*/*.pid", checkNoPidFile},
	{"d", "stderr", "it logs to standard error, which the manager takes to its journal",
		"ls -l /proc/{pid}/fd/2", checkStderrLog},
	{"e", "sockets", "the manager gave it its socket (LISTEN_FDS) or one to report readiness on (NOTIFY_SOCKET)",
		`tr '\0' '\n' </proc/{pid}/environ | grep -E '^(LISTEN_|NOTIFY_SOCKET)'`, checkManagerSockets},
	// UMask= sets it for the service, but the daemon may set its own
	// (Recommendation 9): either way the same check as the twelve's.
	{"f", "umask", "its umask takes write from group and everything from others (027), set by itself or by UMask=",
		"grep Umask /proc/{pid}/status", umask},
}

// CheckNewStyle evaluates every point of daemon(7)'s new-style list for s.
func CheckNewStyle(s *Subject) [len(NewStyleProperties)]Cell {
	var cells [len(NewStyleProperties)]Cell
	for i, p := range NewStyleProperties {
		c := p.Check(s)
		if c.Command == "" {
			c.Command = strings.ReplaceAll(p.Command, "{pid}", strconv.Itoa(s.Snap.Pid))
		}
		cells[i] = c
	}
	return cells
}

// serviceManagers are the names (/proc/PID/stat's comm) of the service
// managers whose children are services: systemd (as pid 1 and as
// systemd --user), s6, runit, daemontools, dinit.
var serviceManagers = []string{"systemd", "s6-supervise", "runsv", "supervise", "dinit"}

// shells are the names of the shells a process started by hand has as
// its parent.
var shells = []string{"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "tcsh", "csh"}

// LooksManaged reports whether /proc shows a sign that a service manager
// started s, and which: its parent is a manager, or its environment holds
// what a manager sets for a service (systemd.exec(5), "Environment
// Variables in Spawned Processes"). Variables that any descendant of a
// service inherits (INVOCATION_ID, say, in a terminal's shell) do not
// count on their own.
func LooksManaged(s *Subject) (bool, string) {
	if m := s.managerParent(); m != "" {
		return true, m
	}
	why := "its parent is no service manager"
	switch {
	case s.Snap.StatErr == nil && s.Snap.Stat.PPid == 0:
		why = "it has no parent"
	case s.Snap.ParentErr == nil:
		why = fmt.Sprintf("its parent, %s, is no service manager", s.Snap.Parent.Comm)
	}
	env, err := s.Snap.EnvironOrErr()
	if err != nil {
		return false, fmt.Sprintf("%s; %v", why, err)
	}
	if v, ok := lookupEnv(env, "LISTEN_PID"); ok && v == strconv.Itoa(s.Snap.Pid) {
		return true, "$LISTEN_PID is its pid"
	}
	if _, ok := lookupEnv(env, "NOTIFY_SOCKET"); ok {
		return true, "$NOTIFY_SOCKET is set"
	}
	if s.journalStream() {
		return true, "its descriptor 2 is the journal stream $JOURNAL_STREAM names"
	}
	return false, why + ", and its environment has neither $LISTEN_PID for it nor $NOTIFY_SOCKET"
}

// managerParent says how s's parent shows as a service manager, or "".
func (s *Subject) managerParent() string {
	if s.Snap.StatErr != nil || s.Snap.ParentErr != nil {
		return ""
	}
	ppid := s.Snap.Stat.PPid
	if v, ok := lookupEnv(s.Snap.Environ, "MANAGERPID"); ok && v == strconv.Itoa(ppid) {
		return fmt.Sprintf("$MANAGERPID is its parent, %d (%s)", ppid, s.Snap.Parent.Comm)
	}
	if slices.Contains(serviceManagers, s.Snap.Parent.Comm) {
		return fmt.Sprintf("its parent, %d, is %s, a service manager", ppid, s.Snap.Parent.Comm)
	}
	return ""
}

// lookupEnv finds name in a list of NAME=value.
func lookupEnv(env []string, name string) (string, bool) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// journalStream reports whether descriptor 2 of s is the socket that
// $JOURNAL_STREAM ("DEVICE:INODE") names: systemd sets it so that a
// service can tell that its standard error goes to the journal.
func (s *Subject) journalStream() bool {
	v, ok := lookupEnv(s.Snap.Environ, "JOURNAL_STREAM")
	_, inode, found := strings.Cut(v, ":")
	return ok && found && s.Snap.Fds[2] == "socket:["+inode+"]"
}

func checkManagerParent(s *Subject) Cell {
	st, err := s.Snap.StatOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	if st.PPid == 0 {
		return notShown(fmt.Sprintf("pid %d has no parent: it is init or a kernel thread", st.Pid), s.statEvidence())
	}
	if s.Snap.ParentErr != nil {
		return notShown(fmt.Sprintf("its parent %d: %v", st.PPid, s.Snap.ParentErr), s.statEvidence())
	}
	parent := s.Snap.Parent.Comm
	value := fmt.Sprintf("ppid %d (%s)", st.PPid, parent)
	switch m := s.managerParent(); {
	case m != "":
		return holds(value, m)
	case slices.Contains(shells, parent):
		return fails(value, fmt.Sprintf("its parent, %d, is %s, a shell: it was started by hand or by a script", st.PPid, parent))
	case st.PPid == 1:
		c := notShown("pid 1 is no service manager the tour knows", fmt.Sprintf("its parent is pid 1 (%s), which adopts orphans as well as starting services", parent))
		c.Value = value
		return c
	}
	c := notShown("its parent is neither a service manager the tour knows nor a shell",
		fmt.Sprintf("its parent, %d (%s), is neither a service manager (%s) nor a shell, and $MANAGERPID does not name it", st.PPid, parent, strings.Join(serviceManagers, ", ")))
	c.Value = value
	return c
}

func checkNotForked(s *Subject) Cell {
	st, err := s.Snap.StatOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	// The manager names the process it starts in LISTEN_PID, and a fork
	// copies the variable: it names the parent in the child.
	if v, ok := lookupEnv(s.Snap.Environ, "LISTEN_PID"); ok {
		ev := fmt.Sprintf("/proc/%d/environ: LISTEN_PID=%s", st.Pid, v)
		if v == strconv.Itoa(st.Pid) {
			return holds("its LISTEN_PID", ev+", its own pid: the very process the manager started")
		}
		return fails("forked", ev+", not its pid: it was forked from the process the manager started")
	}
	switch {
	case st.Session <= 0:
		return notShown(fmt.Sprintf("in session %d: pid 1 of another pid namespace, or a kernel thread", st.Session), s.statEvidence())
	case st.Session == st.Pid:
		return holds("leads session", fmt.Sprintf("it leads session %d, as a manager starts a service; a double fork leaves a daemon in a session it does not lead", st.Session))
	case errors.Is(s.Snap.LeaderErr, fs.ErrNotExist):
		return fails("leader gone", fmt.Sprintf("the leader of its session %d has exited and left it behind: the fork-setsid-fork recipe does that", st.Session))
	case s.Snap.LeaderErr != nil:
		return notShown(fmt.Sprintf("read /proc/%d/stat, its session leader's: %v", st.Session, s.Snap.LeaderErr), s.statEvidence())
	}
	return holds(fmt.Sprintf("in session %d", st.Session), fmt.Sprintf("its session's leader, %d (%s), is still there; a double fork leaves a daemon's session without one", st.Session, s.Snap.Leader.Comm))
}

func checkNoPidFile(s *Subject) Cell {
	if path, text, why, ok := s.findPidFile(); ok {
		return fails("pid file", fmt.Sprintf("%s holds %q; %s", path, text, why))
	}
	ev := noPidFileFound(strconv.Itoa(s.Snap.Pid))
	if _, err := s.Snap.FdsOrErr(); err != nil {
		return notShown(err.Error(), ev)
	}
	if s.fdsUnreadable() {
		c := notShown("some of its descriptors could not be read, so neither could the files it has open", ev)
		c.Value = "not readable"
		return c
	}
	return holds("none found", ev)
}

func checkStderrLog(s *Subject) Cell {
	fds, err := s.Snap.FdsOrErr()
	if err != nil {
		return notShown(err.Error())
	}
	target, open := fds[2]
	ev := fmt.Sprintf("/proc/%d/fd/2 -> %s", s.Snap.Pid, target)
	switch {
	case !open:
		return fails("fd 2 closed", fmt.Sprintf("/proc/%d/fd/2 does not exist: what it writes there fails", s.Snap.Pid))
	case target == proc.NotReadable:
		c := notShown("the link of its descriptor 2 could not be read (permission denied)", ev)
		c.Value = "not readable"
		return c
	case s.journalStream():
		return holds("journal", ev+": the journal's stream, as $JOURNAL_STREAM says")
	case strings.HasPrefix(target, "socket:"), strings.HasPrefix(target, "pipe:"):
		return holds(s.shortFile(target), ev+": a manager's journal or logger reads such a one; /proc does not say who")
	case target == os.DevNull:
		return fails("null", ev+": what it writes there is lost")
	case strings.HasPrefix(target, "/dev/pts/"), strings.HasPrefix(target, "/dev/tty"):
		return fails(s.shortFile(target), ev+": a terminal, as a shell gives, not a manager")
	}
	c := notShown("a file: StandardError=file: gives one, and so does a daemon's own log; /proc does not say which", ev)
	c.Value = s.shortFile(target)
	return c
}

func checkManagerSockets(s *Subject) Cell {
	env, err := s.Snap.EnvironOrErr()
	if err != nil {
		c := notShown(err.Error())
		if errors.Is(err, fs.ErrPermission) {
			c.Value = "not readable"
		}
		return c
	}
	pid := strconv.Itoa(s.Snap.Pid)
	var seen, got []string
	for _, name := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET"} {
		if v, ok := lookupEnv(env, name); ok {
			seen = append(seen, name+"="+v)
		}
	}
	listenPid, _ := lookupEnv(env, "LISTEN_PID")
	if n, _ := lookupEnv(env, "LISTEN_FDS"); listenPid == pid && n != "" && n != "0" {
		got = append(got, "LISTEN_FDS="+n)
	}
	if _, ok := lookupEnv(env, "NOTIFY_SOCKET"); ok {
		got = append(got, "NOTIFY")
	}
	if len(seen) == 0 {
		return fails("neither", fmt.Sprintf("/proc/%s/environ has no LISTEN_FDS and no NOTIFY_SOCKET: it binds its own sockets, if any, and reports no readiness", pid))
	}
	ev := fmt.Sprintf("/proc/%s/environ, as exec gave it: %s", pid, strings.Join(seen, " "))
	if len(got) == 0 {
		return fails("not for it", ev+": LISTEN_PID names another process")
	}
	return holds(strings.Join(got, ", "), ev)
}
