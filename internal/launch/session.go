package launch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"daemon-steps/internal/peercred"
	"daemon-steps/internal/proc"
	"daemon-steps/internal/pty"
	"daemon-steps/internal/reaper"
	"daemon-steps/internal/steps"
	"daemon-steps/internal/syslogsink"
)

// shellStart is what the shell around the launcher may add to
// LaunchTimeout.
const shellStart = time.Second

// echoLine is what a launch sends to the server to see it echo.
const echoLine = "hello from the tour\n"

// Opened is how many connections the tour opens and closes to each server:
// the first finds the server (SO_PEERCRED), the others echo a line. Each
// leaves a zombie in the steps before 12.
const Opened = 3

// shellScript is run by /bin/sh as the controlling process of the
// terminal, with the program as $0 and its flags as $@. An inner shell
// writes its pid, which is the launcher's once it execs the program, and
// the outer one the launcher's exit status, on descriptor 3, a pipe to the
// tour; neither reaches the program. Then the shell stays, as an
// interactive one would, holding the terminal: the servers of steps 01
// and 02, which keep it, are not hung up until the tour says so.
const shellScript = `umask 000
/bin/sh -c 'echo "launcher $$" >&3; exec "$0" "$@" 3>&-' "$0" "$@"
echo "status $?" >&3
exec sleep 3600 3>&- 9>&-`

// Setup is what a launch is given: the program (any executable), the
// flags it has and those it gets, and its sandbox.
type Setup struct {
	Step     steps.Step
	Binary   string
	Flags    map[string]bool // the flags the program has
	FlagArgs []string        // the flags the launch gave it

	// The sandbox: a short temporary directory of its own.
	Paths
	Leaked string // the file left open to the launcher as descriptor 9; "" if none
	// LeakedPipe is the pipe left open to the launcher as descriptor
	// PipeFd, as /proc names it ("pipe:[INODE]"); "" if none.
	LeakedPipe string
	Umask      string // the umask the launcher started under; "" if not set

	// A new-style daemon (the step ships a unit file) is started by a
	// service manager's tool instead, in the foreground: no shell, no
	// terminal, no launcher, no leaked descriptor.
	NewStyle bool
}

// Seen is what a launch observed and did, for the property checks to
// judge: by a Session (the tour's launch), or by daemontest from a test's
// sandbox.
type Seen struct {
	Tour     int    // the launching program's pid (the tour, or a test): a child subreaper
	TourName string // what it is: "tour", "test process"
	Terminal string // the pseudo-terminal the shell ran on
	Shell    int    // the shell: session leader, controlling process; 0 if none
	Launcher int    // the launcher's pid; it has gone by the time of the snapshot
	Status   int    // the launcher's exit status
	Output   string // what the terminal showed
	Server   int    // the pid that listens on the socket (SO_PEERCRED)
	Manager  string // the command that started a new-style daemon

	// What was seen once the connections were made.
	Connections    string      // the connections made before looking, in words
	WorkersSettled bool        // the workers of the closed connections had all exited
	Tree           []proc.Stat // every process of the sandbox
	PidFileText    string
	PidFileErr     error
	PidFileID      *FileID
	SocketMode     fs.FileMode
	SocketErr      error

	// What the launch did afterwards, and how it went.
	SecondCopy  *SecondCopy // nil if the program has no -pidfile
	Hangup      *Hangup
	Term        *Term  // nil if the server had gone before
	TermSkipped string // why Term is nil

	Problems []string // what went wrong that no property covers

	SyslogSink *syslogsink.Sink // the stand-in syslog daemon on Paths.Syslog, if bound
	NotifySink *syslogsink.Sink // $NOTIFY_SOCKET of a new-style daemon
	stderr     string           // the file that holds a new-style daemon's standard output and error
}

// SyslogMessages returns the datagrams that came to the -syslog socket.
func (o *Seen) SyslogMessages() []string {
	if o.SyslogSink == nil {
		return nil
	}
	return o.SyslogSink.Messages()
}

// Problem records what went wrong that no property covers.
func (o *Seen) Problem(format string, args ...any) {
	o.Problems = append(o.Problems, fmt.Sprintf(format, args...))
}

// SecondCopy is how a second start with the same flags went.
type SecondCopy struct {
	Code          int
	Stderr        string
	TimedOut      bool
	ListenerAfter int // who listens on the socket afterwards
	ListenerErr   error
	first         int
}

// Refused reports whether the second copy gave up and left the first alone.
func (c *SecondCopy) Refused() bool {
	return !c.TimedOut && c.Code != 0 && c.ListenerErr == nil && c.ListenerAfter == c.first
}

func (c *SecondCopy) String() string {
	if c.TimedOut {
		return fmt.Sprintf("a second start with the same flags did not return within %v", LaunchTimeout)
	}
	s := fmt.Sprintf("a second start with the same flags exited with status %d", c.Code)
	if c.Stderr != "" {
		s += fmt.Sprintf(", saying %q", c.Stderr)
	}
	switch {
	case c.ListenerErr != nil:
		return s + fmt.Sprintf("; then nobody answered on the socket (%v)", c.ListenerErr)
	case c.ListenerAfter == c.first:
		return s + fmt.Sprintf("; server %d still listens", c.first)
	}
	return s + fmt.Sprintf("; server %d took the socket from %d", c.ListenerAfter, c.first)
}

// Hangup is what became of the server when the terminal hung up and its
// controlling process, the shell, exited.
type Hangup struct {
	Terminal string
	Survived bool
	End      string // how the server ended, if it did
}

func (h *Hangup) String() string {
	s := fmt.Sprintf("hung up %s (closed its master side): the shell, its controlling process, exited", h.Terminal)
	if h.Survived {
		return s + "; the server still echoed"
	}
	return s + "; the server " + h.End
}

// Term is how the server ended on SIGTERM.
type Term struct {
	End         string // "exited with status 0", "was killed by SIGTERM"
	Code        int    // the exit status; -1 if it did not exit by itself
	SocketLeft  bool
	PidFileLeft bool
	// ManagersSocket: the socket was the service manager's, passed to the
	// server, which must leave it in place.
	ManagersSocket bool
	Stopping       bool // the server told $NOTIFY_SOCKET STOPPING=1
}

// Clean reports whether the server exited with status 0 and removed its
// socket and pid file; a socket that the manager made and passed stays.
func (t *Term) Clean() bool {
	return t.Code == 0 && (!t.SocketLeft || t.ManagersSocket) && !t.PidFileLeft
}

func (t *Term) String() string {
	s := "kill -TERM: it " + t.End
	var left []string
	if t.Stopping {
		s += ", after it sent STOPPING=1 to $NOTIFY_SOCKET,"
	}
	if t.SocketLeft && t.ManagersSocket {
		s += " and left the socket, which the manager made, in place"
	} else if t.SocketLeft {
		left = append(left, "its socket")
	}
	if t.PidFileLeft {
		left = append(left, "its pid file")
	}
	if len(left) > 0 {
		return s + " and left " + strings.Join(left, " and ") + " behind"
	}
	if t.ManagersSocket {
		return s
	}
	return s + " and removed what it had made"
}

// Session is one launch of a step by the tour: what it was given, what it
// saw, and what it keeps open meanwhile.
type Session struct {
	Setup
	Seen
	term       *pty.Pair
	output     *limitedBuffer
	outputDone chan struct{}
	shellDone  chan struct{}
	held       net.Conn
	stopOnce   sync.Once
	stopErr    error
}

// Prepare prepares dir, which holds the step's binary, for a launch: it
// asks the program for its flags and binds the -syslog socket.
func Prepare(ctx context.Context, step steps.Step, dir, binary string) (*Session, error) {
	sb := &Session{
		Setup: Setup{
			Step:   step,
			Binary: binary,
			Paths:  NewPaths(dir),
			Leaked: filepath.Join(dir, "leaked"),
			Umask:  "000", // shellScript's
			// A step that ships a unit file is a new-style daemon.
			NewStyle: isNewStyle(step.Dir),
		},
		Seen: Seen{Tour: os.Getpid(), TourName: "tour"},
	}
	var err error
	if sb.Flags, err = ProgramFlags(ctx, binary, MarkedEnv(dir)); err != nil {
		return nil, err
	}
	sb.FlagArgs = sb.Paths.Args(sb.Flags)
	if sb.Flags["syslog"] {
		if sb.Seen.SyslogSink, err = syslogsink.Listen(sb.Paths.Syslog); err != nil {
			return nil, err
		}
	}
	return sb, nil
}

// Start launches the program from a shell that controls a new
// pseudo-terminal, under umask 000, with a file open as descriptor 9 and a
// pipe as descriptor PipeFd, and finds the server once the launcher has
// returned.
func (sb *Session) Start(ctx context.Context) error {
	if sb.NewStyle {
		return sb.startManaged(ctx)
	}
	var err error
	if sb.term, err = pty.Open(); err != nil {
		return err
	}
	sb.Terminal = sb.term.Name
	sb.output = &limitedBuffer{limit: 8 << 10}
	sb.outputDone = make(chan struct{})
	go func() {
		io.Copy(sb.output, sb.term.Master) // until the tour closes it
		close(sb.outputDone)
	}()
	leaked, err := os.Create(sb.Leaked)
	if err != nil {
		return err
	}
	defer leaked.Close()
	report, reportW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pipe: %w", err)
	}
	defer report.Close()

	cmd := exec.Command("/bin/sh", append([]string{"-c", shellScript, sb.Binary}, sb.FlagArgs...)...)
	cmd.Dir = sb.Dir
	cmd.Env = MarkedEnv(sb.Dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = sb.term.Slave, sb.term.Slave, sb.term.Slave
	// A session of its own, with the terminal as its controlling terminal:
	// what a login shell or a terminal window's shell has.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	cmd.ExtraFiles = []*os.File{reportW} // descriptor 3
	Leak(cmd, leaked)
	pipe, ends, err := LeakPipe(cmd)
	if err != nil {
		return err
	}
	sb.LeakedPipe = pipe
	for _, f := range ends {
		// The shell and its children hold the writing end as long as
		// they need the pipe: the tour needs neither end itself.
		defer f.Close()
	}
	err = reaper.Start(cmd)
	reportW.Close()
	sb.term.Slave.Close() // the shell has its own; the tour keeps only the master
	if err != nil {
		return fmt.Errorf("start /bin/sh: %w", err)
	}
	sb.Shell = cmd.Process.Pid
	sb.shellDone = make(chan struct{})
	go func() {
		reaper.Wait(cmd)
		close(sb.shellDone)
	}()

	if sb.Launcher, sb.Status, err = readReport(ctx, report); err != nil {
		return err
	}
	if sb.Status != 0 {
		return fmt.Errorf("the launcher exited with status %d: %s", sb.Status, sb.lastOutputLine())
	}
	if sb.Server, err = peercred.ListenerPid(sb.Socket); err != nil {
		return fmt.Errorf("find the server: %w", err)
	}
	return nil
}

// readReport reads what the shell writes on descriptor 3: "launcher PID",
// then "status N" once the launcher has returned.
func readReport(ctx context.Context, r *os.File) (launcher, status int, err error) {
	r.SetReadDeadline(time.Now().Add(LaunchTimeout + shellStart))
	defer context.AfterFunc(ctx, func() { r.SetReadDeadline(time.Now()) })()
	lines := bufio.NewReader(r)
	status = -1
	for status < 0 {
		line, err := lines.ReadString('\n')
		switch {
		case ctx.Err() != nil:
			return 0, 0, ctx.Err()
		case errors.Is(err, os.ErrDeadlineExceeded) && launcher != 0:
			return 0, 0, fmt.Errorf("the launcher did not return within %v", LaunchTimeout)
		case err != nil:
			return 0, 0, fmt.Errorf("the shell did not run the launcher: %w", err)
		}
		name, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		n, convErr := strconv.Atoi(value)
		if convErr != nil {
			return 0, 0, fmt.Errorf("the shell reported %q", line)
		}
		switch name {
		case "launcher":
			launcher = n
		case "status":
			status = n
		}
	}
	return launcher, status, nil
}

// lastOutputLine returns the last line the terminal showed, where the
// launcher writes why it failed. Its output may still be on its way to
// the master side, so this waits a moment for one.
func (sb *Session) lastOutputLine() string {
	WaitUntil(context.Background(), 100*time.Millisecond, func() bool { return sb.output.String() != "" })
	lines := strings.Split(strings.TrimSpace(sb.output.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Exercise makes connections: Opened in all, each closed, and one more
// held open, so that the snapshot shows a live worker and, before step
// 12, a zombie for each finished one.
func (sb *Session) Exercise(ctx context.Context) {
	for i := 1; i < Opened; i++ {
		if err := EchoLine(sb.Socket, echoLine); err != nil {
			sb.Problem("echo: %v", err)
		}
	}
	var err error
	if sb.held, err = HoldConnection(sb.Socket); err != nil {
		sb.Problem("hold a connection open: %v", err)
	}
	sb.Connections = fmt.Sprintf("%d connections opened and closed (one found the server, %d echoed a line), 1 held open", Opened, Opened-1)
	live := 0
	if sb.held != nil {
		live = 1
	}
	// The workers of the closed connections are done once none but the
	// held one runs: each is then a zombie, or reaped.
	sb.WorkersSettled = WaitUntil(ctx, Settle, func() bool {
		kids, _ := proc.Children(sb.Server)
		zombies, running := 0, 0
		for _, k := range kids {
			if k.State == 'Z' {
				zombies++
			} else {
				running++
			}
		}
		return running == live && (zombies == 0 || zombies == Opened)
	})
}

// Observe reads /proc for the server and the files of the sandbox.
func (sb *Session) Observe() (Snapshot, error) {
	snap, err := TakeSnapshot(sb.Server)
	if err != nil {
		return snap, fmt.Errorf("the server has gone: %w", err)
	}
	for _, st := range reaper.Marked(Marker(sb.Dir)) {
		sb.Tree = append(sb.Tree, st)
	}
	sort.Slice(sb.Tree, func(i, j int) bool { return sb.Tree[i].Pid < sb.Tree[j].Pid })
	sb.Seen.ObserveFiles(&sb.Setup)
	return snap, nil
}

// ObserveFiles reads the sandbox's pid file and socket as they are now.
func (o *Seen) ObserveFiles(in *Setup) {
	if in.Flags["pidfile"] {
		b, err := os.ReadFile(in.PidFile)
		o.PidFileText, o.PidFileErr = string(b), err
		if id, err := StatID(in.PidFile); err == nil {
			o.PidFileID = &id
		}
	}
	if fi, err := os.Lstat(in.Socket); err == nil {
		o.SocketMode = fi.Mode()
	} else {
		o.SocketErr = err
	}
}

// Act does what /proc alone cannot show: it starts a second copy (from
// step 07, when there is a lock to refuse it), hangs up the terminal, and
// asks the server to stop.
func (sb *Session) Act(ctx context.Context) {
	if sb.held != nil {
		sb.held.Close()
	}
	if sb.Flags["pidfile"] && ctx.Err() == nil {
		sb.SecondCopy = sb.startSecondCopy(ctx)
	}
	if ctx.Err() == nil && sb.term != nil {
		sb.Hangup = sb.hangUp(ctx)
	}
	if ctx.Err() == nil {
		sb.terminate(ctx)
	}
}

// startSecondCopy starts the program again with the same flags, and sees
// who listens on the socket afterwards.
func (sb *Session) startSecondCopy(ctx context.Context) *SecondCopy {
	c := &SecondCopy{first: sb.Server}
	cmd := exec.Command(sb.Binary, sb.FlagArgs...)
	cmd.Dir = sb.Dir
	cmd.Env = MarkedEnv(sb.Dir)
	r, err := RunLauncher(ctx, cmd, sb.Dir)
	switch {
	case errors.Is(err, errTimedOut):
		c.TimedOut = true
		cmd.Process.Kill()
		return c
	case err != nil:
		if ctx.Err() == nil {
			sb.Problem("second copy: %v", err)
		}
		return nil
	}
	c.Code, c.Stderr = r.Code, strings.TrimSpace(r.Stderr)
	c.ListenerAfter, c.ListenerErr = peercred.ListenerPid(sb.Socket)
	return c
}

// hangUp closes the terminal's master side: the kernel hangs the terminal
// up and signals the shell, its controlling process, which exits; as it
// exits, the kernel hangs up its foreground process group. A server still
// in that group (steps 01 and 02) dies of SIGHUP.
func (sb *Session) hangUp(ctx context.Context) *Hangup {
	h := &Hangup{Terminal: sb.Terminal}
	sb.term.Master.Close()
	select {
	case <-sb.shellDone:
	case <-time.After(Settle):
		sb.Problem("the shell did not exit within %v of the hangup", Settle)
	case <-ctx.Done():
		return h
	}
	// The SIGHUP, if any, was sent before the shell's exit was reported:
	// a server that still echoes survived it.
	if EchoLine(sb.Socket, echoLine) == nil {
		h.Survived = true
		return h
	}
	h.End = sb.awaitServerEnd(ctx)
	return h
}

// terminate sends SIGTERM to the server and waits for it to end.
func (sb *Session) terminate(ctx context.Context) {
	if st, err := proc.ReadStat(sb.Server); err != nil || st.State == 'Z' {
		sb.TermSkipped = "it had already ended"
		if sb.Hangup != nil && !sb.Hangup.Survived {
			sb.TermSkipped = "the hangup had ended it"
		}
		return
	}
	if err := unix.Kill(sb.Server, unix.SIGTERM); err != nil {
		sb.TermSkipped = err.Error()
		return
	}
	t := &Term{Code: -1}
	t.End = sb.awaitServerEnd(ctx)
	if strings.HasPrefix(t.End, "exited with status ") {
		t.Code, _ = strconv.Atoi(strings.TrimPrefix(t.End, "exited with status "))
	}
	t.SocketLeft = Exists(sb.Socket)
	t.PidFileLeft = sb.Flags["pidfile"] && Exists(sb.PidFile)
	t.ManagersSocket = sb.NewStyle
	t.Stopping = sb.Notified("STOPPING=1")
	sb.Term = t
}

// awaitServerEnd waits for the server, a child of the tour since its
// launcher left, to end, reaps it, and says how it ended.
func (sb *Session) awaitServerEnd(ctx context.Context) string {
	var ws unix.WaitStatus
	var reaped bool
	ended := WaitUntil(ctx, Settle, func() bool {
		ws, reaped = reaper.Reap(sb.Server)
		return reaped || !Exists(fmt.Sprintf("/proc/%d", sb.Server))
	})
	switch {
	case !ended:
		return fmt.Sprintf("was still running %v later", Settle)
	case !reaped:
		return "ended (its exit status went to another parent)"
	case ws.Signaled():
		return "was killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exited with status %d", ws.ExitStatus())
}

// Stop kills and reaps every process of the sandbox, and closes what the
// tour held open. It is safe to call more than once.
func (sb *Session) Stop() error {
	sb.stopOnce.Do(func() {
		if sb.held != nil {
			sb.held.Close()
		}
		if sb.term != nil {
			sb.term.Master.Close()
			sb.term.Slave.Close()
			<-sb.outputDone
			sb.Output = strings.ReplaceAll(sb.output.String(), "\r\n", "\n")
		}
		sb.stopErr = reaper.KillMarked(Marker(sb.Dir), CleanupTimeout)
		if sb.NewStyle {
			sb.Output = sb.Seen.Stderr()
		}
		if sb.shellDone != nil {
			<-sb.shellDone
		}
		if sb.Seen.SyslogSink != nil {
			sb.Seen.SyslogSink.Close()
		}
		if sb.NotifySink != nil {
			sb.NotifySink.Close()
		}
	})
	return sb.stopErr
}
