// Package daemontest is the testify layer of the step tests: it gets the
// program under test (built from the test's directory, or given from
// outside), launches it in a sandbox through internal/launch, requires the
// properties of internal/property to hold, and makes sure that no test
// leaves a process behind.
//
// Each test gets a Sandbox: a short temporary directory holding its own
// socket, pid file and log, so tests run in parallel and never touch the
// program's defaults. Every process the test causes carries the sandbox's
// marker in its environment; when the test ends, the sandbox kills and reaps
// them all, with the descendants they left, and fails the test if any
// survives. The test process is a child subreaper, so a daemon whose
// launcher has exited becomes its child and can be reaped.
package daemontest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"daemon-steps/internal/build"
	"daemon-steps/internal/launch"
	"daemon-steps/internal/peercred"
	"daemon-steps/internal/proc"
	"daemon-steps/internal/property"
	"daemon-steps/internal/pty"
	"daemon-steps/internal/reaper"
	"daemon-steps/internal/syslogsink"
)

// Binary is the program under test, built by Main.
var Binary string

// flags holds the names of the flags that Binary accepts.
var flags map[string]bool

// RunTests builds the package in the current directory, makes the test process
// a child subreaper, and runs the tests. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(daemontest.RunTests(m)) }
func RunTests(m *testing.M) int {
	if path := os.Getenv(connectEnv); path != "" {
		return connectHelper(path)
	}
	// Orphaned daemons started by the tests come back to this process
	// instead of init, so their exits can be seen and their zombies reaped.
	if err := reaper.BecomeSubreaper(); err != nil {
		fmt.Fprintf(os.Stderr, "daemontest: %v\n", err)
		return 1
	}
	// The tests judge the signals a server ignores itself, not those the
	// shell that ran go test ignored (nohup).
	launch.ResetInheritedSignals()
	if err := markInheritedCloseOnExec(); err != nil {
		fmt.Fprintf(os.Stderr, "daemontest: %v\n", err)
		return 1
	}
	killLeftovers()
	dir, err := os.MkdirTemp("", "daemontest")
	if err != nil {
		fmt.Fprintf(os.Stderr, "daemontest: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if Binary, err = programUnderTest(dir); err != nil {
		fmt.Fprintf(os.Stderr, "daemontest: %v\n", err)
		return 1
	}
	if flags, err = launch.ProgramFlags(context.Background(), Binary, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "daemontest: %v\n", err)
		return 1
	}
	code := m.Run()
	if left := reaper.Sweep(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "daemontest: reaped zombies that no test claimed: %v\n", left)
	}
	if left := liveChildren(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "daemontest: processes outlive the tests: %v\n", left)
		return 1
	}
	return code
}

// markInheritedCloseOnExec keeps the descriptors the test process
// inherited from reaching the launchers it starts, so that no test passes
// or fails for how it was run: a descriptor left open to go test without
// close-on-exec would be one more inherited descriptor in every launcher.
// (Inherited signal dispositions are launch.ResetInheritedSignals' job.)
func markInheritedCloseOnExec() error {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("mark inherited descriptors close-on-exec: %w", err)
	}
	return nil
}

// ProgramEnv names the environment variable that gives the tests a
// program to grade instead of the Go package in their directory: any
// executable, such as the C companion built for the same step
// (ECHOD=/path/to/echod go test ./step07-lock/). Tests that apply only to
// the Go program skip under it (RequireGoProgram).
const ProgramEnv = "ECHOD"

// External reports whether the program under test was given through
// ProgramEnv rather than built from the directory's Go package.
func External() bool { return os.Getenv(ProgramEnv) != "" }

// programUnderTest returns the program to test: the one ProgramEnv names,
// or else the package in the current directory, built into dir.
func programUnderTest(dir string) (string, error) {
	if given := os.Getenv(ProgramEnv); given != "" {
		path, err := filepath.Abs(given)
		if err != nil {
			return "", fmt.Errorf("%s=%q: %w", ProgramEnv, given, err)
		}
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("%s=%q: not an executable file", ProgramEnv, given)
		}
		// Go's test cache keys on the files a test opens: reading the
		// program makes a rebuilt one rerun the tests.
		sources = []string{path}
		// A copy of it in dir, named echod as the Go program is (its
		// syslog tag and log lines carry the name), on the file system of
		// the sandboxes, where some tests hard-link it: the given program
		// may live on another (a repository under /home, /tmp a tmpfs).
		// No test runs yet, so no process forked meanwhile can inherit
		// the copy's descriptor open for writing (ETXTBSY).
		binary := filepath.Join(dir, "echod")
		if err := copyExecutable(path, binary); err != nil {
			return "", fmt.Errorf("%s=%q: %w", ProgramEnv, given, err)
		}
		return binary, nil
	}
	var err error
	if sources, err = build.Inputs("."); err != nil {
		return "", err
	}
	binary := filepath.Join(dir, "echod")
	if err := build.Step(context.Background(), ".", binary); err != nil {
		return "", err
	}
	return binary, nil
}

// copyExecutable copies the executable file src to dst.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return fmt.Errorf("copy the program: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy the program: %w", err)
	}
	return out.Close()
}

// RequireGoProgram skips the test when the program under test was given
// from outside (ProgramEnv): what it checks belongs to the Go program
// alone (why says what), not to the property the step teaches.
func RequireGoProgram(t testing.TB, why string) {
	t.Helper()
	if External() {
		t.Skipf("only for the Go program, not %s=%s: %s", ProgramEnv, os.Getenv(ProgramEnv), why)
	}
}

// sources lists the files that go build reads to make Binary
// (build.Inputs): the program's own .go files, go.mod and go.sum.
//
// Go's test cache reuses a result while the test binary, its environment
// and the files the test process opened are unchanged, and the program is
// built by "go build", not linked into the test binary: so the test
// process itself reads every file that the build reads (New does, once),
// and a change to any of them makes "go test" run the tests again instead
// of printing "(cached)". It must happen during m.Run: only then does the
// testing package log the files a test opens.
var sources []string

// readSourcesOnce reads them, once per test process.
var readSourcesOnce sync.Once

// readSources reads every file in sources, so that the test cache keys on
// them (see sources).
func readSources() {
	// Which program ECHOD names is part of the key too: without this
	// read, a result cached for one program would be reused for another.
	os.Getenv(ProgramEnv)
	for _, f := range sources {
		os.ReadFile(f)
	}
}

// killLeftovers ends what an earlier test run left behind when it was
// killed from outside (go test's -timeout, or ^C) before it could clean up:
// its daemons went to init. A marked process whose parent is init is such
// a leftover, since a live test's daemons are its own children; it is
// killed with its descendants.
func killLeftovers() {
	for pid := range reaper.MarkedOrphans(launch.MarkerEnv + "=") {
		unix.Kill(pid, unix.SIGKILL)
	}
}

// RequireFlag fails the test unless the program has the flag name, which
// step adds. A launch passes only the flags the program has (Flags), so
// that a step's tests also run on the steps before it; without this check,
// a test of -pidfile on a program that has none would report that a
// pid file was not refused, though it was never given.
func RequireFlag(t testing.TB, name string, step int) {
	t.Helper()
	if flags[name] {
		return
	}
	var have []string
	for f := range flags {
		have = append(have, "-"+f)
	}
	sort.Strings(have)
	t.Fatalf("the program must have a -%s flag; its usage lists only %s (step %02d adds it: see step %02d's README.md, \"What the test checks\"; in a lab: README.md, \"What the tests require\")",
		name, strings.Join(have, ", "), step, step)
}

// Sandbox is one test's own directory, socket, pid file and logs.
type Sandbox struct {
	t testing.TB
	// Dir, a short temporary directory, and in it Socket, PidFile, Log,
	// and Syslog, where nothing listens unless a test binds it.
	launch.Paths
	leaked   string           // the file LeakDescriptor left open, if any
	pipe     string           // the pipe LeakDescriptor left open, if any
	syslog   *syslogsink.Sink // the stand-in syslog daemon, if bound
	server   int              // the server ServerPid last found, if any
	termName string           // the terminal of shell
	launch   launch.Result    // the launcher that Start or StartFrom ran last
	shell    int              // the shell it ran from, if a terminal's (FromShell)
}

// New creates a sandbox for t and arranges that, when t ends, every process
// launched from it is killed and reaped and the directory removed.
//
// The directory comes from os.MkdirTemp("", ...) rather than t.TempDir,
// whose name holds the test's name and would make socket paths longer than
// the 107 bytes a Unix socket address holds.
func New(t testing.TB) *Sandbox {
	t.Helper()
	readSourcesOnce.Do(readSources)
	dir, err := os.MkdirTemp("", "ds")
	require.NoError(t, err, "set-up: a temporary directory")
	s := &Sandbox{t: t, Paths: launch.NewPaths(dir)}
	t.Cleanup(func() {
		s.killAll()
		os.RemoveAll(dir)
	})
	return s
}

// Flags returns the flags that point the program at the sandbox, for each
// flag the program has.
func (s *Sandbox) Flags() []string { return s.Args(flags) }

// Command returns a command that runs the program with args, marked as this
// sandbox's. It does not add the sandbox's flags: see Flags. Standard input
// is /dev/null; standard output and error go to files in the sandbox, so
// that a server holding them cannot keep the test waiting.
func (s *Sandbox) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(Binary, args...)
	cmd.Env = launch.MarkedEnv(s.Dir)
	return cmd
}

// Run runs cmd to its end, capturing its output in files unless the caller
// has set Stdout and Stderr, and fails the test if it does not exit within
// LaunchTimeout.
func (s *Sandbox) Run(cmd *exec.Cmd) launch.Result {
	s.t.Helper()
	r, err := s.Launch(cmd)
	require.NoErrorf(s.t, err, "launch %s: the launcher must return within %v", strings.Join(cmd.Args, " "), launch.LaunchTimeout)
	s.t.Logf("launcher %d: %s; exit status %d; stdout %q; stderr %q", r.Pid, strings.Join(cmd.Args, " "), r.Code, r.Stdout, r.Stderr)
	return r
}

// Launch is Run without failing the test, for use from goroutines: it
// returns an error where Run would fail the test.
func (s *Sandbox) Launch(cmd *exec.Cmd) (launch.Result, error) {
	return launch.RunLauncher(context.Background(), cmd, s.Dir)
}

// Start launches the program with the sandbox's flags and args, requires
// the launcher to exit with status 0, and returns the pid of the server
// that listens on the sandbox's socket.
func (s *Sandbox) Start(args ...string) (server int, launch launch.Result) {
	s.t.Helper()
	return s.StartFrom(s.Command(append(s.Flags(), args...)...))
}

// StartFrom is Start with cmd prepared by the caller (from Command, with
// the sandbox's Flags among its arguments).
func (s *Sandbox) StartFrom(cmd *exec.Cmd) (server int, launch launch.Result) {
	s.t.Helper()
	launch = s.Run(cmd)
	requireStarted(s.t, launch)
	s.launch = launch
	server = s.ServerPid()
	return server, launch
}

// requireStarted requires a launcher to have reported a server's start:
// exit status 0 (PROPERTIES.md, "The program").
func requireStarted(t testing.TB, launch launch.Result) {
	t.Helper()
	require.Equalf(t, 0, launch.Code, "the launcher %d must start the server and exit with status 0; it exited %d, saying on standard error %q; fix this first: every other check needs a server (the message names what failed: see the README of the step that brings it in, and step 01's README.md, \"What the test checks\", for the launcher; in a lab: README.md, \"What the tests require\")",
		launch.Pid, launch.Code, strings.TrimSpace(launch.Stderr))
}

// ServerPid connects to the sandbox's socket and returns the pid of the
// process that listens there.
func (s *Sandbox) ServerPid() int {
	s.t.Helper()
	pid, err := peercred.ListenerPid(s.Socket)
	require.NoErrorf(s.t, err, "once the launcher has returned, a server must listen on -socket %s (the test asks the listener's pid with SO_PEERCRED); %s", s.Socket, noListener(err))
	s.t.Logf("server: pid %d listens on %s", pid, s.Socket)
	s.server = pid
	// The test may wait for the server's exit status (WaitExit): no other
	// test's sweep may reap it first. The claim ends before the sandbox's
	// own clean-up, which runs last.
	reaper.Claim(pid)
	s.t.Cleanup(func() { reaper.Release(pid) })
	return pid
}

// RequireEcho requires the server at the sandbox's socket to echo a line.
func (s *Sandbox) RequireEcho() {
	s.t.Helper()
	msg := []byte("hello, " + s.t.Name() + "\n")
	got, err := launch.Echo(s.Socket, msg)
	require.NoErrorf(s.t, err, "the server must echo a line through %s: connect, send, half-close, and read until the server closes; %s", s.Socket, s.serverState(err))
	require.Equalf(s.t, string(msg), string(got), "the server on %s must send back the line it got", s.Socket)
}

// noListener says what a failed connection to a socket means.
func noListener(err error) string {
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		return "the socket file is there, but no process accepts on it: the server has exited, or was killed"
	case errors.Is(err, unix.ENOENT):
		return "there is no socket file: the server never listened there, or removed it"
	}
	return "it could not be reached"
}

// serverState says, after an echo failed with err, what became of the
// server that ServerPid found: the first thing to know when an echo fails.
func (s *Sandbox) serverState(err error) string {
	switch {
	case s.server == 0:
		return noListener(err)
	case !launch.Alive(s.server):
		return fmt.Sprintf("the server %d that listened there has exited, or was killed", s.server)
	}
	return fmt.Sprintf("the server %d is still running", s.server)
}

// Stat reads /proc/PID/stat, failing the test if it cannot.
func (s *Sandbox) Stat(pid int) proc.Stat {
	s.t.Helper()
	st, err := proc.ReadStat(pid)
	require.NoErrorf(s.t, err, "read /proc/%d/stat: process %d must still run", pid, pid)
	s.t.Logf("/proc/%d/stat: ppid %d pgrp %d session %d tty_nr %d state %c", pid, st.PPid, st.Pgrp, st.Session, st.TtyNr, st.State)
	return st
}

// WaitGone waits up to launch.Settle for pid to exit (to be gone or a
// zombie) and reports whether it did.
func WaitGone(pid int) bool {
	return launch.WaitUntil(context.Background(), launch.Settle, func() bool { return !launch.Alive(pid) })
}

// Eventually waits up to launch.Settle for cond to hold, and fails the test with
// msg, formatted with args, if it does not. cond runs in the test's own
// goroutine, so it may use require. The message is formatted when the
// wait fails: an argument that is a pointer (to a slice cond fills in,
// say) shows what it points to then, the last thing cond saw.
func (s *Sandbox) Eventually(cond func() bool, msg string, args ...any) {
	s.t.Helper()
	if !launch.WaitUntil(context.Background(), launch.Settle, cond) {
		require.FailNowf(s.t, "not so within "+launch.Settle.String(), msg, derefArgs(args)...)
	}
}

// derefArgs replaces each non-nil pointer in args with what it points to.
func derefArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
		if v := reflect.ValueOf(a); v.Kind() == reflect.Pointer && !v.IsNil() {
			out[i] = v.Elem().Interface()
		}
	}
	return out
}

// marker is the environment entry that every process launched from the
// sandbox carries.
func (s *Sandbox) marker() string { return launch.Marker(s.Dir) }

// killAll kills every process launched from the sandbox, with the
// processes they started, and reaps each one that has become a child of the
// test process. It fails the test if any is still there after
// cleanupTimeout.
func (s *Sandbox) killAll() {
	if err := reaper.KillMarked(s.marker(), launch.CleanupTimeout); err != nil {
		s.t.Errorf("processes outlive the test: %v", err)
	}
	reaper.Sweep() // orphans that exited before anything marked them
}

// liveChildren describes the children of the test process that still run:
// pid, name, state and command line, so that a leak says whose it was.
func liveChildren() []string {
	var live []string
	kids, _ := proc.Children(os.Getpid())
	for _, k := range kids {
		if k.State != 'Z' {
			args, _ := proc.Cmdline(k.Pid)
			live = append(live, fmt.Sprintf("%d (%s, state %c: %s)", k.Pid, k.Comm, k.State, strings.Join(args, " ")))
		}
	}
	return live
}

// Signal sends sig to pid, refusing pids that could reach more than the
// program under test.
func (s *Sandbox) Signal(pid int, sig syscall.Signal) {
	s.t.Helper()
	require.Greaterf(s.t, pid, 1, "refusing to signal pid %d", pid)
	s.t.Logf("kill -%s %d", strings.TrimPrefix(unix.SignalName(sig), "SIG"), pid)
	require.NoErrorf(s.t, unix.Kill(pid, sig), "kill -%s %d: process %d must still be there", strings.TrimPrefix(unix.SignalName(sig), "SIG"), pid, pid)
}

// LeakDescriptor makes cmd inherit, without close-on-exec, an open file as
// its descriptor launch.LeakedFd, as a shell does with "9</some/file", and
// the writing end of a pipe as its descriptor launch.PipeFd (when the
// descriptor limit leaves room), and returns the file's path. The
// property.InheritedFd check then looks for both in the server.
func (s *Sandbox) LeakDescriptor(cmd *exec.Cmd) string {
	s.t.Helper()
	path := filepath.Join(s.Dir, "leaked")
	s.leaked = path
	f, err := os.Create(path)
	require.NoError(s.t, err, "set-up: create the file to leak")
	s.t.Cleanup(func() { f.Close() })
	launch.Leak(cmd, f)
	s.t.Logf("the launcher inherits %s as descriptor %d", path, launch.LeakedFd)
	pipe, ends, err := launch.LeakPipe(cmd)
	require.NoError(s.t, err, "set-up: a pipe to leak")
	for _, end := range ends {
		s.t.Cleanup(func() { end.Close() })
	}
	if s.pipe = pipe; pipe != "" {
		s.t.Logf("the launcher inherits the writing end of %s as descriptor %d", pipe, launch.PipeFd)
	} else {
		s.t.Logf("no pipe at descriptor %d: the descriptor limit leaves no room", launch.PipeFd)
	}
	return path
}

// AsUserUnderProcessLimit makes cmd run the program as user uid (and
// group uid) under a limit of nproc processes and threads (RLIMIT_NPROC,
// through prlimit), as an administrator's "prlimit --nproc" or a unit's
// LimitNPROC= does. The sandbox's directory becomes uid's, so that the
// program may create its files there, and the program runs from a link
// in it, a path uid may execute. RLIMIT_NPROC counts every process of the
// user: give each launch a uid that no other test uses. It skips the test
// unless this process is root, which alone may start a program as another
// user, and prlimit (util-linux) is installed.
func (s *Sandbox) AsUserUnderProcessLimit(cmd *exec.Cmd, uid, nproc int) {
	s.t.Helper()
	if os.Geteuid() != 0 {
		s.t.Skip("only root can start the program as another user")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		s.t.Skip("needs prlimit, from util-linux")
	}
	require.NoErrorf(s.t, os.Chown(s.Dir, uid, uid), "set-up: give %s to uid %d", s.Dir, uid)
	binary := filepath.Join(s.Dir, "echod")
	require.NoError(s.t, os.Link(Binary, binary), "set-up: link the program into the sandbox")
	cmd.Path = prlimit
	cmd.Args = append([]string{prlimit, fmt.Sprintf("--nproc=%d:%d", nproc, nproc), binary}, cmd.Args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
}

// Terminal is a pseudo-terminal, for launching the program as if from an
// interactive shell.
type Terminal struct {
	*pty.Pair // Master, the terminal emulator's side; Slave, the shell's; Name
}

// OpenTerminal opens a new pseudo-terminal pair, closed when the test ends.
// What programs write to it is read and dropped, so they never block.
func (s *Sandbox) OpenTerminal() *Terminal {
	s.t.Helper()
	p, err := pty.Open()
	require.NoError(s.t, err, "set-up: open a pseudo-terminal")
	s.t.Cleanup(func() { p.Close() })
	go io.Copy(io.Discard, p.Master)
	s.t.Logf("opened pseudo-terminal %s", p.Name)
	return &Terminal{p}
}

// Control makes cmd the controlling process of the terminal, as a login
// shell is: it runs in a session of its own, with the terminal as its
// controlling terminal and as its standard input, output and error. When
// it exits, the kernel hangs up every process in the terminal's foreground
// process group (SIGHUP).
func (term *Terminal) Control(cmd *exec.Cmd) {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term.Slave, term.Slave, term.Slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
}

// Shell runs the program with args from a shell that is the terminal's
// controlling process, as in a terminal window, and waits for the program
// to exit with status 0. It returns the shell's pid, which is also its
// session's id. The shell stays, holding the terminal, until the test ends.
func (term *Terminal) Shell(s *Sandbox, args ...string) (shell int) {
	s.t.Helper()
	status := filepath.Join(s.Dir, "shell-status")
	script := `"$0" "$@"; echo $? >` + status + `; exec sleep 3600`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, Binary}, args...)...)
	cmd.Env = launch.MarkedEnv(s.Dir)
	term.Control(cmd)
	require.NoError(s.t, cmd.Start(), "set-up: start /bin/sh on the terminal")
	s.t.Logf("in a shell (pid %d) on %s: %s %s", cmd.Process.Pid, term.Name, Binary, strings.Join(args, " "))
	s.FromShell(cmd.Process.Pid, term)
	var code string
	require.Eventually(s.t, func() bool {
		b, _ := os.ReadFile(status)
		code = strings.TrimSpace(string(b))
		return code != ""
	}, launch.LaunchTimeout, launch.Poll, "the program started from a shell on %s must return to the shell within %v", term.Name, launch.LaunchTimeout)
	require.Equalf(s.t, "0", code, "the program started from a shell on %s must exit with status 0; it exited %s", term.Name, code)
	return cmd.Process.Pid
}

// Daemons returns the pids of the live processes launched from the sandbox
// that have outlived their launchers: their parent is no longer a process
// of the sandbox. Servers are; their workers and the launchers are not.
func (s *Sandbox) Daemons() []int {
	procs := reaper.Marked(s.marker())
	var daemons []int
	for pid, st := range procs {
		if _, inSandbox := procs[st.PPid]; !inSandbox && launch.Alive(pid) {
			daemons = append(daemons, pid)
		}
	}
	return daemons
}

// WaitExit waits up to launch.Settle for pid, a child of the test process (as an
// orphaned server is, the test being a subreaper), to exit, reaps it and
// returns its exit status, or -1 if a signal ended it.
func (s *Sandbox) WaitExit(pid int) int {
	s.t.Helper()
	ws, err := reaper.WaitExit(pid, launch.Settle)
	if err != nil && pid == s.server {
		require.NoErrorf(s.t, err, "the server %d (the process listening on %s) must exit within %v; it still runs: is it blocked, writing to a log or a syslog socket that does not take the message, or waiting for its workers? (cat /proc/%d/stack, or send it SIGQUIT for its goroutines)", pid, s.Socket, launch.Settle, pid)
	}
	require.NoErrorf(s.t, err, "process %d must exit within %v", pid, launch.Settle)
	if ws.Signaled() {
		s.t.Logf("%d was killed by %v", pid, ws.Signal())
		return -1
	}
	s.t.Logf("%d exited with status %d", pid, ws.ExitStatus())
	return ws.ExitStatus()
}

// connectEnv, set in the environment of the test binary, makes Main connect
// to the Unix socket it names instead of running tests. ConnectAs uses it.
const connectEnv = "DAEMONTEST_CONNECT"

// Nobody is the uid and gid of the unprivileged user "nobody".
const Nobody = 65534

// ConnectAs tries to connect to the Unix socket at path as the user and
// group uid, from a copy of the test process started with that identity,
// and returns the error it got. Connecting to a socket needs write
// permission on its file, and search permission on the directories above.
func (s *Sandbox) ConnectAs(uid int, path string) error {
	s.t.Helper()
	self, err := os.Executable()
	require.NoError(s.t, err, "set-up: the test binary's path")
	// The test binary lives in a directory only its owner may enter; give
	// the other user a name for it in the sandbox.
	exe := filepath.Join(s.Dir, "connect-helper")
	if _, err := os.Stat(exe); err != nil {
		require.NoError(s.t, os.Link(self, exe), "set-up: link the test binary into the sandbox")
	}
	cmd := exec.Command(exe)
	cmd.Env = append(launch.MarkedEnv(s.Dir), connectEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	r := s.Run(cmd)
	s.t.Logf("connect to %s as uid %d: exit status %d %s", path, uid, r.Code, strings.TrimSpace(r.Stderr))
	if r.Code != 0 {
		return errors.New(strings.TrimSpace(r.Stderr))
	}
	return nil
}

// connectHelper is the other side of ConnectAs.
func connectHelper(path string) int {
	conn, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	conn.Close()
	return 0
}

// Syslog stands in for the syslog daemon: a datagram socket bound at the
// sandbox's -syslog path, whose messages it collects (syslogsink.Sink).
type Syslog struct {
	t    testing.TB
	sink *syslogsink.Sink
}

// ListenSyslog binds a datagram socket at the sandbox's Syslog path and
// collects what arrives there until the test ends.
func (s *Sandbox) ListenSyslog() *Syslog {
	s.t.Helper()
	sink, err := syslogsink.Listen(s.Syslog)
	require.NoErrorf(s.t, err, "set-up: bind a datagram socket at %s", s.Syslog)
	s.t.Cleanup(sink.Close)
	s.syslog = sink
	return &Syslog{t: s.t, sink: sink}
}

// WaitFor waits up to launch.Settle for a message whose text contains substr, and
// returns it.
func (l *Syslog) WaitFor(substr string) syslogsink.Message {
	l.t.Helper()
	return l.WaitMatch(func(m syslogsink.Message) bool { return strings.Contains(m.Text, substr) }, "a syslog message containing %q", substr)
}

// WaitMatch waits up to launch.Settle for a message for which match is true, and
// returns it; it fails the test with what otherwise.
func (l *Syslog) WaitMatch(match func(syslogsink.Message) bool, what string, args ...any) syslogsink.Message {
	l.t.Helper()
	var found syslogsink.Message
	require.Eventually(l.t, func() bool {
		for _, raw := range l.sink.Messages() {
			if m, err := syslogsink.Parse(raw); err == nil && match(m) {
				found = m
				return true
			}
		}
		return false
	}, launch.Settle, launch.Poll, l.missing(fmt.Sprintf(what, args...)))
	l.t.Logf("syslog got %+v", found)
	return found
}

// Messages returns the messages that have arrived so far, in order,
// leaving out datagrams that are not in the RFC 3164 form.
func (l *Syslog) Messages() []syslogsink.Message {
	var ms []syslogsink.Message
	for _, raw := range l.sink.Messages() {
		if m, err := syslogsink.Parse(raw); err == nil {
			ms = append(ms, m)
		}
	}
	return ms
}

// missing says what a failed wait for a message waited for, and what
// came instead.
func (l *Syslog) missing(what string) string {
	got := l.sink.Messages()
	return fmt.Sprintf("%s must reach the -syslog socket within %v; it got %d datagrams: %q (see step 11's README.md)", what, launch.Settle, len(got), got)
}

// HoldConnection opens a connection to the server and exchanges one byte
// over it, so that a worker is known to serve it, and leaves it open until
// the test ends.
func (s *Sandbox) HoldConnection() net.Conn {
	s.t.Helper()
	conn, err := launch.HoldConnection(s.Socket)
	require.NoErrorf(s.t, err, "a worker must echo one byte on a connection to the server on %s", s.Socket)
	s.t.Cleanup(func() { conn.Close() })
	return conn
}

// FromShell records that the launcher ran from shell, the controlling
// process of term, for the properties that compare the server with the
// shell's session (property.NoTerminal).
func (s *Sandbox) FromShell(shell int, term *Terminal) {
	s.shell = shell
	s.termName = term.Name
}

// Subject is what the properties judge of server: /proc now, and what the
// sandbox knows of its launch (the launcher Start ran, the shell it ran
// from, the descriptor it was left, the syslog socket bound).
func (s *Sandbox) Subject(server int) *property.Subject {
	s.t.Helper()
	snap, err := launch.TakeSnapshot(server)
	require.NoErrorf(s.t, err, "read /proc/%d: the server %d must still run", server, server)
	in := &launch.Setup{Binary: Binary, Flags: flags, Paths: s.Paths, Leaked: s.leaked, LeakedPipe: s.pipe}
	seen := &launch.Seen{
		Tour: os.Getpid(), TourName: "test process", Terminal: s.termName, Shell: s.shell,
		Launcher: s.launch.Pid, Status: s.launch.Code, Server: server,
		WorkersSettled: true, // a test looks once it has made sure they have
		SyslogSink:     s.syslog,
	}
	seen.ObserveFiles(in)
	return &property.Subject{Snap: snap, Launch: &property.Launch{Setup: in, Seen: seen}}
}

// RequireHolds requires property p of server to hold, as p.Check judges
// it, and otherwise fails with what was checked, what was seen (the /proc
// lines read) and where to read.
func (s *Sandbox) RequireHolds(p *property.Property, server int) {
	s.t.Helper()
	if c := p.Judge(s.Subject(server)); c.Mark != property.Holds {
		require.FailNowf(s.t, "property "+strconv.Itoa(p.N)+" does not hold", "%s", failure(p, server, c))
	}
}

// EventuallyHolds waits up to launch.Settle for property p of server to
// hold, and otherwise fails as RequireHolds does, with what it saw last.
func (s *Sandbox) EventuallyHolds(p *property.Property, server int) {
	s.t.Helper()
	var c property.Cell
	held := launch.WaitUntil(context.Background(), launch.Settle, func() bool {
		c = p.Judge(s.Subject(server))
		return c.Mark == property.Holds
	})
	if !held {
		require.FailNowf(s.t, "property "+strconv.Itoa(p.N)+" does not hold within "+launch.Settle.String(), "%s", failure(p, server, c))
	}
}

// funcName names the function f, "property.parent", where a student reads
// how the check looks at /proc.
func funcName(f any) string {
	name := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
	return name[strings.LastIndex(name, "/")+1:]
}

// failure says what a property check expected, saw, and where to read.
func failure(p *property.Property, server int, c property.Cell) string {
	why := ""
	if c.Why != "" {
		why = " (" + c.Why + ")"
	}
	return fmt.Sprintf("property %d (%s) of the server %d.\nExpected: %s.\nSeen: %s%s\nEvidence:\n  %s\nBy hand: $ %s\nSee step %02d's README.md, \"What the test checks\", and PROPERTIES.md, row %02d; the check is %s in internal/property.",
		p.N, p.Column, server, p.Claim, c.Value, why, strings.Join(c.Evidence, "\n  "), c.Command, p.N, p.N, funcName(p.Check))
}
