// The tests check, one test a property, what this step and every step
// before it make true of the server, and the echo service and command line
// that all steps share. They treat the program as a black box: they build
// this directory, launch it as a shell would, and look at /proc.
package main_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"daemon-steps/internal/daemontest"
	"daemon-steps/internal/launch"
	"daemon-steps/internal/peercred"
	"daemon-steps/internal/proc"
	"daemon-steps/internal/property"
)

func TestMain(m *testing.M) { os.Exit(daemontest.RunTests(m)) }

// see says where a failed check is explained: the README of step n, the
// step that brings the property in. In a lab, README.md states each test's
// requirement.
func see(n int) string {
	return fmt.Sprintf("see step %02d's README.md, \"What the test checks\" (in a lab: README.md, \"What the tests require\")", n)
}

// Test that the launcher returns with status 0 while the server goes on
// answering (recommendation 1).
func TestLauncherReturnsWhileServerServes(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, launch := s.Start()
	require.NotEqualf(t, launch.Pid, server, "the server must be a process of its own, not the launcher: both are pid %d; %s", server, see(1))
	s.RequireEcho()
}

// Test that once the launcher has returned, the server's parent is init or
// the nearest child subreaper (this test process), not the launcher
// (recommendation 1).
func TestServerParentIsNotLauncher(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	s.RequireHolds(property.Parent, server)
}

// Test that the launcher names the server's pid and socket in one line.
func TestLauncherNamesServerPidAndSocket(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, launch := s.Start()
	require.Equalf(t, 1, strings.Count(launch.Stdout, "\n"), "the launcher's standard output must be one line; it is %q; %s", launch.Stdout, see(1))
	require.Containsf(t, strings.Fields(launch.Stdout), strconv.Itoa(server), "the launcher's line must name the server's pid %d as a word; it is %q; %s", server, launch.Stdout, see(1))
	require.Containsf(t, launch.Stdout, s.Socket, "the launcher's line must name the socket %s; it is %q; %s", s.Socket, launch.Stdout, see(1))
}

// Test that when the server dies before it is ready, the launcher neither
// waits for ever nor reports a start: it returns, with a non-zero status.
// The server is made to die as a user of its own under a process limit
// (RLIMIT_NPROC) too low for the Go runtime to start its threads, a limit
// that the launcher, already running, has passed; for a program in C,
// whose processes have one thread each, the lowest limits make the fork
// of the session leader or of the server fail. Needs root and prlimit
// (util-linux).
func TestLauncherFailsWhenServerDies(t *testing.T) {
	t.Parallel()
	failed := 0
	for i, limit := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12} {
		// RLIMIT_NPROC counts every process and thread of the user: a user
		// id of this launch's own keeps other processes out of it, a server
		// that an earlier limit let start among them (step 06's
		// TestLauncherReportsWhyServerDied uses 400000 + pid).
		uid := 5000000 + 16*os.Getpid() + i
		s := daemontest.New(t)
		cmd := s.Command(s.Flags()...)
		s.AsUserUnderProcessLimit(cmd, uid, limit)
		r, err := s.Launch(cmd)
		require.NoErrorf(t, err, "as uid %d under RLIMIT_NPROC %d, the launcher must return within %v, even when the server dies before it is ready; it is still waiting: does it keep its own copy of the notification pipe's writing end, so that it never reads end-of-file? %s", uid, limit, launch.LaunchTimeout, see(1))
		t.Logf("as uid %d: prlimit --nproc=%d:%d echod: exit status %d; stdout %q; stderr %q", uid, limit, limit, r.Code, r.Stdout, r.Stderr)
		if r.Code != 0 {
			failed++
			continue
		}
		_, err = peercred.ListenerPid(s.Socket)
		require.NoErrorf(t, err, "as uid %d under RLIMIT_NPROC %d, the launcher exited with status 0, saying %q, so a server must listen on %s; none does: end-of-file on the notification pipe, with no ready line, means that the server died, and the launcher must say so and exit non-zero; %s", uid, limit, r.Stdout, s.Socket, see(1))
	}
	if failed == 0 {
		t.Skip("no process limit tried made the start fail on this machine")
	}
}

// Test that the echo returns every byte sent, of any value and in any
// amount, and that the server closes once the client has closed its
// writing side (a half-close).
func TestEchoIsBinarySafeOfAnySize(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	s.Start()
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	large := make([]byte, 4<<20)
	rand.Read(large)
	for name, data := range map[string][]byte{"empty": {}, "every byte value": every, "4 MiB": large} {
		got, err := launch.Echo(s.Socket, data)
		require.NoErrorf(t, err, "%s: the echo through %s must end when the server closes, after the client's half-close; %s", name, s.Socket, see(1))
		require.Truef(t, bytes.Equal(data, got), "%s: the echo must return every byte sent: sent %d bytes, got %d back; %s", name, len(data), len(got), see(1))
	}
}

// Test that each connection is served by a child process of the server
// (the C original forks one per connection), and that these workers do not
// hold the listening socket.
func TestEachConnectionHasWorkerProcess(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	const open = 3
	for range open {
		s.HoldConnection()
	}

	kids, err := proc.Children(server)
	require.NoErrorf(t, err, "read the children of the server %d from /proc", server)
	var workers []int
	for _, k := range kids {
		if k.State != 'Z' {
			workers = append(workers, k.Pid)
		}
	}
	t.Logf("live children of the server: %v", workers)
	require.GreaterOrEqualf(t, len(workers), open, "the server %d must have a live child process (a worker) for each of the %d open connections; its live children are %v; %s", server, open, workers, see(1))
	// A worker that fork() made holds a copy of the server's descriptors
	// until its first lines close them (Go's ForkExec returns only once
	// the child has executed), and the worker of the test's own probe of
	// the socket may not have run yet: wait for the workers to settle. One
	// that still holds the listening socket then never lets it go. The
	// server's sockets are read again each time: a forked worker may echo
	// before its parent has run on to close its copy of the connection.
	var holding string
	s.Eventually(func() bool {
		holding = ""
		serverSockets := make(map[string]bool)
		for _, sock := range sockets(t, server) {
			serverSockets[sock] = true
		}
		for _, w := range workers {
			fds, err := proc.Fds(w)
			if err != nil {
				continue // the probe's worker has exited
			}
			for _, target := range fds {
				if serverSockets[target] {
					holding = fmt.Sprintf("worker %d holds %s (ls -l /proc/%d/fd)", w, target, w)
				}
			}
		}
		return holding == ""
	}, "a worker must not hold the listening socket: %s, which the server %d holds too; %s", &holding, server, see(1))
}

// sockets returns the "socket:[INODE]" descriptors that pid holds.
func sockets(t *testing.T, pid int) []string {
	fds, err := proc.Fds(pid)
	require.NoErrorf(t, err, "read /proc/%d/fd", pid)
	var socks []string
	for _, target := range fds {
		if strings.HasPrefix(target, "socket:") {
			socks = append(socks, target)
		}
	}
	return socks
}

// Test that a socket left behind at the path by a server that is gone is
// removed, and the new server listens there.
func TestReplacesStaleSocket(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.Socket, Net: "unix"})
	require.NoErrorf(t, err, "set-up: bind a socket at %s", s.Socket)
	ln.SetUnlinkOnClose(false)
	require.NoErrorf(t, ln.Close(), "set-up: close the socket at %s, leaving its file", s.Socket)
	s.Start()
	s.RequireEcho()
}

// Test that anything but a socket at the socket's path (a regular file, a
// directory, a FIFO, a symbolic link) is refused with one line on the
// launcher's standard error, and left as it was.
func TestRefusesNonSocketAtSocketPath(t *testing.T) {
	t.Parallel()
	for name, create := range map[string]func(path string) error{
		"regular file": func(p string) error { return os.WriteFile(p, []byte("keep me"), 0o600) },
		"directory":    func(p string) error { return os.Mkdir(p, 0o700) },
		"FIFO":         func(p string) error { return unix.Mkfifo(p, 0o600) },
		"symbolic link": func(p string) error {
			return os.Symlink("/etc/hostname", p)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := daemontest.New(t)
			require.NoErrorf(t, create(s.Socket), "set-up: create a %s at %s", name, s.Socket)
			before, err := os.Lstat(s.Socket)
			require.NoErrorf(t, err, "set-up: lstat %s", s.Socket)
			r := s.Run(s.Command(s.Flags()...))
			require.NotEqualf(t, 0, r.Code, "with a %s at the socket's path %s, the launcher must exit non-zero; it exited 0 (stdout %q); %s", name, s.Socket, r.Stdout, see(1))
			requireOneLine(t, r.Stderr, "the refusal of a "+name+" at the socket's path")
			after, err := os.Lstat(s.Socket)
			require.NoErrorf(t, err, "the %s at %s must be left where it was; %s", name, s.Socket, see(1))
			require.Equalf(t, before.Mode(), after.Mode(), "the %s at %s must be left as it was: its mode was %v; %s", name, s.Socket, before.Mode(), see(1))
			require.Equalf(t, before.ModTime(), after.ModTime(), "the %s at %s must be left as it was: it was modified; %s", name, s.Socket, see(1))
		})
	}
}

// requireOneLine requires msg, the launcher's standard error for what,
// to be one non-empty line.
func requireOneLine(t *testing.T, msg, what string) {
	t.Helper()
	require.NotEmptyf(t, strings.TrimSpace(msg), "%s: the launcher must say why on its standard error, in one line; it wrote nothing there; %s", what, see(1))
	require.Equalf(t, 1, strings.Count(msg, "\n"), "%s: the launcher must say why in one line on its standard error, not a stack trace or the usage; it wrote %q; %s", what, msg, see(1))
}

// Test that a bad command line gets a clear error and a non-zero exit,
// creates nothing, and leaves a running server alone.
func TestRejectsBadCommandLines(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()

	for _, bad := range [][]string{{"-no-such-flag"}, {"stray-argument"}} {
		r := s.Run(s.Command(append(s.Flags(), bad...)...))
		require.Equalf(t, 2, r.Code, "%v: the launcher must exit with status 2, as for a usage error; it exited %d; %s", bad, r.Code, see(1))
		require.Containsf(t, r.Stderr, "Usage", "%v: the launcher must show the usage on its standard error; it wrote %q; %s", bad, r.Stderr, see(1))
	}
	long := s.Dir + "/" + strings.Repeat("x", 108-len(s.Dir)-1)
	require.Lenf(t, long, 108, "set-up: a socket path of 108 bytes")
	// A sandbox of its own for the bad paths: sharing the running server's
	// files (its lock, from step 07) would make them fail for another reason.
	other := daemontest.New(t)
	for name, path := range map[string]string{
		"missing directory": filepath.Join(s.Dir, "missing", "s.sock"),
		"108-byte path":     long,
		"abstract name":     "@daemon-steps-test",
	} {
		r := other.Run(other.Command(append(other.Flags(), "-socket", path)...))
		require.NotEqualf(t, 0, r.Code, "-socket %s (%s): the launcher must exit non-zero; it exited 0; %s", path, name, see(1))
		requireOneLine(t, r.Stderr, "-socket "+path+" ("+name+")")
		require.Containsf(t, r.Stderr, path, "-socket %s (%s): the message must name the path; it is %q; %s", path, name, r.Stderr, see(1))
		require.NotContainsf(t, r.Stderr, "goroutine", "-socket %s (%s): the message must not be a stack trace; it is %q; %s", path, name, r.Stderr, see(1))
		_, err := os.Lstat(path)
		require.ErrorIsf(t, err, fs.ErrNotExist, "-socket %s (%s): the refused start must create nothing there; %s", path, name, see(1))
	}
	require.Truef(t, launch.Alive(server), "the running server %d must survive the bad command lines; it is gone; %s", server, see(1))
	got, err := peercred.ListenerPid(s.Socket)
	require.NoErrorf(t, err, "the running server %d must still answer on %s; %s", server, s.Socket, see(1))
	require.Equalf(t, server, got, "the running server %d must still be the one listening on %s; pid %d listens there; %s", server, s.Socket, got, see(1))
}

// Test that a socket path of 107 bytes, the most sun_path holds, works.
func TestAcceptsLongestSocketPath(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	s.Socket = s.Dir + "/" + strings.Repeat("x", 107-len(s.Dir)-1)
	require.Lenf(t, s.Socket, 107, "set-up: a socket path of 107 bytes")
	s.Start()
	s.RequireEcho()
}

// Test that the server does not spin when accept fails: under a descriptor
// limit too low for one more connection it backs off, and it serves again
// once the limit is raised.
func TestAcceptFailureDoesNotSpin(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	// The kernel refuses a new descriptor at or above the soft limit. Only
	// the soft limit is lowered, so the test can raise it again without
	// privilege (CAP_SYS_RESOURCE) and check that the server recovers.
	var limit unix.Rlimit
	require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_NOFILE, nil, &limit), "set-up: read the server %d's descriptor limit", server)
	normal := limit.Cur
	limit.Cur = 3 // descriptors 0, 1 and 2 only: accept fails with EMFILE
	require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_NOFILE, &limit, nil), "set-up: lower the server %d's descriptor limit", server)
	t.Logf("prlimit --pid %d --nofile=3:%d", server, limit.Max)

	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: s.Socket, Net: "unix"})
	require.NoErrorf(t, err, "connect to %s: the kernel must queue the connection, though the server cannot accept it; %s", s.Socket, see(1))
	defer conn.Close()
	const window = 500 * time.Millisecond
	before := s.Stat(server)
	time.Sleep(window) // the measurement: CPU used while accept keeps failing
	after := s.Stat(server)
	ticks := (after.Utime + after.Stime) - (before.Utime + before.Stime)
	t.Logf("the server used %d clock ticks of CPU in %v of failing accepts", ticks, window)
	require.Lessf(t, ticks, uint64(10), "while accept fails, the server %d must back off, using under 10 clock ticks of CPU in %v; it used %d (a server that retries at once burns a whole CPU, about 50); %s", server, window, ticks, see(1))

	limit.Cur = normal
	require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_NOFILE, &limit, nil), "raise the server %d's descriptor limit again", server)
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = conn.Write([]byte("again\n"))
	require.NoErrorf(t, err, "write to the queued connection to %s", s.Socket)
	require.NoErrorf(t, conn.CloseWrite(), "half-close the queued connection to %s", s.Socket)
	got, err := io.ReadAll(conn)
	require.NoErrorf(t, err, "once descriptors are available again, the server %d must serve the queued connection; %s", server, see(1))
	require.Equalf(t, "again\n", string(got), "once descriptors are available again, the queued connection must get its echo; %s", see(1))
}

// Test that workers still start after the program's file is deleted, as
// "go run" deletes its temporary binary when the launcher exits: the
// server re-executes /proc/self/exe, not a path.
func TestWorkersStartAfterBinaryIsDeleted(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	// A second name for the binary (a hard link, not a copy: writing an
	// executable while other tests fork can make exec fail with ETXTBSY).
	copied := filepath.Join(s.Dir, "echod")
	require.NoErrorf(t, os.Link(daemontest.Binary, copied), "set-up: link %s to %s", copied, daemontest.Binary)
	cmd := s.Command(s.Flags()...)
	cmd.Path, cmd.Args[0] = copied, copied
	s.StartFrom(cmd)
	require.NoErrorf(t, os.Remove(copied), "set-up: remove %s", copied)
	t.Logf("rm %s", copied)
	s.RequireEcho()
}

// Test that the server does not hold a descriptor that the shell left open
// to the launcher without close-on-exec (recommendation 2): neither a file
// at descriptor 9, as "9<file" leaves one, nor a pipe at descriptor 1500,
// above 1024, where a loop up to the usual "ulimit -n" would stop
// (launch.PipeFd; the pipe is left out when the descriptor limit has no
// room for it).
func TestServerHoldsNoInheritedDescriptor(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	cmd := s.Command(s.Flags()...)
	s.LeakDescriptor(cmd)
	server, _ := s.StartFrom(cmd)
	s.RequireHolds(property.InheritedFd, server)
}

// Test that the server, though started from a shell in a terminal, has no
// controlling terminal and runs in a session other than the shell's
// (recommendation 3).
func TestServerHasNoControllingTerminal(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	term := s.OpenTerminal()
	term.Shell(s, s.Flags()...)
	server := s.ServerPid()
	s.RequireHolds(property.NoTerminal, server)
}

// Test that the server survives when the launcher, the controlling process
// of its terminal, exits, and when the terminal hangs up, where before
// this step the kernel's SIGHUP killed it (recommendation 3).
func TestServerSurvivesTerminalHangup(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	term := s.OpenTerminal()
	cmd := s.Command(s.Flags()...)
	term.Control(cmd)
	server, _ := s.StartFrom(cmd)
	s.RequireEcho()
	require.Truef(t, launch.Alive(server), "the server %d must outlive the launcher, the controlling process of %s; it is gone (SIGHUP?); %s", server, term.Name, see(3))
	require.NoErrorf(t, term.Master.Close(), "close %s's master side", term.Name)
	t.Logf("closed %s's master side: the terminal hangs up", term.Name)
	s.RequireEcho()
	require.Truef(t, launch.Alive(server), "the server %d must outlive the hangup of %s; it is gone; %s", server, term.Name, see(3))
}

// Test that the server started from a shell with job control, as in a
// terminal window, is not left in a background job of the shell's session:
// it has no controlling terminal, runs in a session other than the shell's,
// and still serves after the terminal hangs up (recommendation 3).
func TestServerLeavesJobControlShellSession(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	term := s.OpenTerminal()
	shell := jobControlShell(t, s, term)
	server := s.ServerPid()
	t.Logf("started from bash with job control (pid %d) on %s, which still holds it: a server that kept the terminal would sit in the launcher's job, now in the background, which the shell no longer lists", shell, term.Name)
	s.RequireHolds(property.NoTerminal, server)
	require.NoErrorf(t, term.Master.Close(), "close %s's master side", term.Name)
	t.Logf("closed %s's master side: the terminal hangs up", term.Name)
	s.RequireEcho()
	require.Truef(t, launch.Alive(server), "the server %d must outlive the hangup of %s; it is gone; %s", server, term.Name, see(3))
}

// jobControlShell runs the program with the sandbox's flags from bash with
// job control on (set -m), as the shell of a terminal window runs it: the
// shell is the terminal's controlling process and runs the launcher as a
// job, in a process group of its own. It waits for the launcher to exit
// with status 0, and returns the shell's pid, which is also its session's
// id. The shell stays, holding the terminal, until the test ends.
func jobControlShell(t *testing.T, s *daemontest.Sandbox, term *daemontest.Terminal) (shell int) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("no bash to run the program from a shell with job control: %v", err)
	}
	status := filepath.Join(s.Dir, "job-status")
	// The shell records $-, which holds m when job control is on.
	script := `set -m; echo "$-" >"$1.flags"; ` +
		`"$0" "${@:2}"; echo $? >"$1"; exec sleep 3600`
	cmd := s.Command()
	cmd.Path = bash
	cmd.Args = append([]string{bash, "--norc", "--noprofile", "-c", script, daemontest.Binary, status}, s.Flags()...)
	term.Control(cmd)
	require.NoError(t, cmd.Start(), "set-up: start bash on the terminal")
	t.Logf("in bash with job control (pid %d) on %s: %s %s", cmd.Process.Pid, term.Name, daemontest.Binary, strings.Join(s.Flags(), " "))
	var code string
	s.Eventually(func() bool {
		b, _ := os.ReadFile(status)
		code = strings.TrimSpace(string(b))
		return code != ""
	}, "the program started from bash on %s must return to the shell", term.Name)
	flags, err := os.ReadFile(status + ".flags")
	require.NoErrorf(t, err, "set-up: bash records $- in %s.flags", status)
	require.Containsf(t, string(flags), "m", "set-up: bash on %s must have job control on ($- holds m); $- is %q", term.Name, strings.TrimSpace(string(flags)))
	require.Equalf(t, "0", code, "the program started from bash on %s must exit with status 0; it exited %s", term.Name, code)
	s.FromShell(cmd.Process.Pid, term)
	return cmd.Process.Pid
}

// BenchmarkConnection measures one connection from the client's side:
// connect, send a line, read the echo, close. Each connection starts a
// worker process, and the time goes mostly to that: fork, exec and the
// start of the Go runtime.
func BenchmarkConnection(b *testing.B) {
	s := daemontest.New(b)
	s.Start()
	msg := []byte("hello\n")
	for b.Loop() {
		got, err := launch.Echo(s.Socket, msg)
		if err != nil || !bytes.Equal(got, msg) {
			b.Fatalf("echo: %q, %v", got, err)
		}
	}
}

// Test that the server leaves the terminal it was started from even when
// none of the launcher's standard input, output and error is that
// terminal, as with "echod </dev/null >echod.out 2>&1" typed at a prompt:
// the terminal is still the launcher's controlling terminal, so whether to
// call setsid() must not depend on where the standard files lead
// (recommendation 3).
func TestServerLeavesTerminalWhateverItsStdin(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	term := s.OpenTerminal()
	status := filepath.Join(s.Dir, "shell-status")
	output := filepath.Join(s.Dir, "shell-output")
	script := `"$0" "$@" </dev/null >` + output + ` 2>&1; echo $? >` + status + `; exec sleep 3600`
	cmd := s.Command()
	cmd.Path = "/bin/sh"
	cmd.Args = append([]string{"/bin/sh", "-c", script, daemontest.Binary}, s.Flags()...)
	term.Control(cmd)
	require.NoError(t, cmd.Start(), "set-up: start /bin/sh on the terminal")
	shell := cmd.Process.Pid
	t.Logf("in a shell (pid %d) on %s: %s %s </dev/null >%s 2>&1", shell, term.Name, daemontest.Binary, strings.Join(s.Flags(), " "), output)
	var code string
	s.Eventually(func() bool {
		b, _ := os.ReadFile(status)
		code = strings.TrimSpace(string(b))
		return code != ""
	}, "the program started from a shell on %s must return to the shell", term.Name)
	out, _ := os.ReadFile(output)
	require.Equalf(t, "0", code, "the program started from a shell on %s with </dev/null >%s 2>&1 must exit with status 0; it exited %s, saying %q", term.Name, output, code, out)
	server := s.ServerPid()
	st := s.Stat(server)
	require.Equalf(t, 0, st.TtyNr, "started from a shell on %s with its standard input, output and error away from the terminal, the server must have no controlling terminal: field 7 (tty_nr) of /proc/%d/stat must be 0; it is %d: call setsid() whatever standard input is, and wherever output and error go; %s", term.Name, server, st.TtyNr, see(3))
	require.NotEqualf(t, shell, st.Session, "started with its standard input, output and error away from the terminal, the server must be in a session other than the shell's (%d): field 6 (session) of /proc/%d/stat is %d; call setsid() whatever standard input is, and wherever output and error go; %s", shell, server, st.Session, see(3))
	require.NoErrorf(t, term.Master.Close(), "close %s's master side", term.Name)
	t.Logf("closed %s's master side: the terminal hangs up", term.Name)
	s.RequireEcho()
	require.Truef(t, launch.Alive(server), "the server %d, started from %s with its standard input, output and error away from it, must outlive the terminal's hangup; it is gone; %s", server, term.Name, see(3))
}
