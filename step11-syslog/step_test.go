// The tests check, one test a property, what this step and every step
// before it make true of the server, and the echo service and command line
// that all steps share. They treat the program as a black box: they build
// this directory, launch it as a shell would, and look at /proc.
package main_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"daemon-steps/internal/daemontest"
	"daemon-steps/internal/launch"
	"daemon-steps/internal/peercred"
	"daemon-steps/internal/proc"
	"daemon-steps/internal/property"
	"daemon-steps/internal/reaper"
	"daemon-steps/internal/syslogsink"
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

// Test that the server works in "/" and keeps no descriptor open on the
// directory it was launched from, which would keep that directory busy
// just as well (recommendation 4).
func TestServerWorkingDirectoryIsRoot(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	cmd := s.Command(s.Flags()...)
	cmd.Dir = s.Dir
	server, _ := s.StartFrom(cmd)
	s.RequireHolds(property.RootDir, server)
	dir, err := filepath.EvalSymlinks(s.Dir)
	require.NoErrorf(t, err, "set-up: resolve %s", s.Dir)
	fds, err := proc.Fds(server)
	require.NoErrorf(t, err, "read /proc/%d/fd", server)
	for fd, target := range fds {
		require.NotEqualf(t, dir, target, "the server %d must keep no descriptor open on the directory it was launched from, %s: /proc/%d/fd/%d -> %s keeps it busy as a working directory would (a file system that holds it cannot be unmounted); %s", server, dir, server, fd, target, see(4))
	}
}

// Test that paths given relative to the launch directory still mean that
// directory, though the server has moved to "/": the launcher resolves them
// first.
func TestRelativePathsAreResolvedBeforeChdir(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	var rel []string
	for _, arg := range s.Flags() {
		rel = append(rel, strings.TrimPrefix(arg, s.Dir+"/"))
	}
	var names []string
	for _, arg := range rel {
		if !strings.HasPrefix(arg, "-") {
			names = append(names, arg)
			_, err := os.Lstat(filepath.Join("/", arg))
			require.ErrorIsf(t, err, fs.ErrNotExist, "set-up: /%s must not exist before the test", arg)
		}
	}
	t.Cleanup(func() { // a server that fails this test leaves its files in /
		for _, name := range names {
			os.Remove(filepath.Join("/", name))
		}
	})
	cmd := s.Command(rel...)
	cmd.Dir = s.Dir
	launch := s.Run(cmd)
	for _, name := range names { // first: a server that listens in / is not found on -socket
		_, err := os.Lstat(filepath.Join("/", name))
		require.ErrorIsf(t, err, fs.ErrNotExist, "a relative path must mean the launch directory %s: the server created /%s instead; resolve the paths before the chdir; %s", s.Dir, name, see(4))
	}
	require.Equalf(t, 0, launch.Code, "started with relative paths, the launcher must exit with status 0; it exited %d, saying %q; resolve the paths before the chdir; %s", launch.Code, launch.Stderr, see(4))
	s.ServerPid()
	s.RequireEcho()
}

// Test that the server is not a session leader and leads a process group
// of its own (recommendation 5).
func TestServerLeadsGroupNotSession(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	r := s.Run(s.Command(s.Flags()...))
	if r.Code != 0 && strings.Contains(r.Stderr, "operation not permitted") {
		require.FailNowf(t, "a start refused with EPERM", "the launcher %d must start the server and exit with status 0; it exited %d, saying %q: the kernel refused an operation with EPERM. A SysProcAttr with both Setsid and Setpgid makes Go's child call setsid() and then setpgid(0, 0), which setpgid(2) refuses to a session leader: the session leader forks once more, and that child takes a group of its own; %s", r.Pid, r.Code, strings.TrimSpace(r.Stderr), see(5))
	}
	require.Equalf(t, 0, r.Code, "the launcher %d must start the server and exit with status 0; it exited %d, saying on standard error %q; %s", r.Pid, r.Code, strings.TrimSpace(r.Stderr), see(5))
	server := s.ServerPid()
	s.RequireHolds(property.OwnGroup, server)
}

// Test that signalling the server's session as a process group, as
// "kill -- -SID" does, does not reach the server (recommendation 5).
func TestKillingSessionGroupSparesServer(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	sid := s.Stat(server).Session
	own, err := unix.Getsid(0)
	require.NoError(t, err, "getsid(0)")
	require.NotEqualf(t, own, sid, "the server %d must not be in the test's own session %d (the test will not signal its own session); %s", server, own, see(3))
	t.Logf("kill -TERM -- -%d", sid)
	if err := unix.Kill(-sid, unix.SIGTERM); err != nil {
		t.Logf("kill: %v (no process is left in group %d)", err, sid)
	}
	s.RequireEcho()
	require.Truef(t, launch.Alive(server), "kill -TERM -- -%d must not reach the server %d: it is gone; %s", sid, server, see(5))
}

// Test that the server's standard input, output and error are /dev/null
// (recommendation 6), though none of the launcher's is: its standard input
// is a file, as with "echod <file", and its output and error go to files.
func TestStandardFilesAreDevNull(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	cmd := s.Command(s.Flags()...)
	stdin, err := os.Create(filepath.Join(s.Dir, "stdin"))
	require.NoError(t, err, "set-up: a file for the launcher's standard input")
	defer stdin.Close()
	cmd.Stdin = stdin
	server, _ := s.StartFrom(cmd)
	s.RequireHolds(property.StdFiles, server) // from step 11, 2 may be the -log file
}

// Test that a caller reading the launcher's output, as out=$(echod) does,
// reaches the end of it once the launcher exits: the server does not hold
// the pipe (recommendation 6).
func TestLauncherOutputEndsWithLauncher(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	r, w, err := os.Pipe()
	require.NoError(t, err, "set-up: a pipe")
	defer r.Close()
	cmd := s.Command(s.Flags()...)
	cmd.Stdout, cmd.Stderr = w, w
	launcher := s.Run(cmd)
	w.Close()
	require.Equalf(t, 0, launcher.Code, "the launcher must exit with status 0; it exited %d; %s", launcher.Code, see(1))

	eof := make(chan []byte, 1)
	go func() {
		out, _ := io.ReadAll(r)
		eof <- out
	}()
	select {
	case out := <-eof:
		t.Logf("the launcher's output, to end-of-file: %q", out)
	case <-time.After(launch.Settle):
		t.Fatalf("a caller reading the launcher's output must get end-of-file when the launcher exits; none came %v after: another process (the server?) holds the pipe's writing end; %s", launch.Settle, see(6))
	}
}

// Test that the launcher reports why the server died before it was ready,
// though the server's standard error is /dev/null (recommendation 6): run
// as a user of its own under a process limit (RLIMIT_NPROC) too low for
// the Go runtime to start its threads (or, for a program in C, whose
// processes have one thread each, too low to fork the session leader or
// the server), a failed start must say more than that the server exited.
// Needs root and prlimit (util-linux).
func TestLauncherReportsWhyServerDied(t *testing.T) {
	t.Parallel()
	// RLIMIT_NPROC counts every process and thread of the user: a user id
	// of this test binary's own keeps other tests' processes out of it.
	uid := 400000 + os.Getpid()
	failed := 0
	for _, limit := range []int{2, 3, 6, 9, 12} {
		s := daemontest.New(t)
		cmd := s.Command(s.Flags()...)
		s.AsUserUnderProcessLimit(cmd, uid, limit)
		r := s.Run(cmd)
		if r.Code == 0 {
			continue
		}
		failed++
		require.NotContainsf(t, r.Stderr, "exited before it was ready", "as uid %d under RLIMIT_NPROC %d, the launcher must print why the server died (what the Go runtime wrote on the server's standard error before it was ready), not only that it exited: it said %q; %s", uid, limit, r.Stderr, see(6))
	}
	if failed == 0 {
		t.Skip("no process limit tried made the start fail on this machine")
	}
}

// Test that the server itself holds a lock on its pid file: /proc/locks
// names the server's pid on the file's inode (recommendation 7). No worker
// may hold a descriptor of the pid file: an flock lasts while any
// descriptor of its open file does, so a server killed with SIGKILL would
// leave its lock to the workers of the clients still connected, and no new
// copy could start until the last of them left.
func TestServerLocksPidFile(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "pidfile", 7)
	s := daemontest.New(t)
	server, _ := s.Start()
	s.RequireHolds(property.Lock, server)
	s.HoldConnection()
	pidFile, err := os.Stat(s.PidFile)
	require.NoErrorf(t, err, "the pid file %s must exist while the server %d runs; %s", s.PidFile, server, see(7))
	var workers []int
	var holding string
	s.Eventually(func() bool {
		workers, holding = liveChildren(t, server), ""
		for _, w := range workers {
			if fd, ok := holdsFile(w, pidFile); ok {
				holding = fmt.Sprintf("worker %d holds it as descriptor %d (ls -l /proc/%d/fd)", w, fd, w)
			}
		}
		return len(workers) > 0 && holding == ""
	}, "with a client connected, the server %d must have a worker (its live children: %v) that holds no descriptor of the locked pid file %s: %s; open the pid file close-on-exec; %s", server, &workers, s.PidFile, &holding, see(7))
}

// liveChildren returns the pids of the children of pid that are not zombies.
func liveChildren(t *testing.T, pid int) []int {
	kids, err := proc.Children(pid)
	require.NoErrorf(t, err, "read the children of %d from /proc", pid)
	var live []int
	for _, k := range kids {
		if k.State != 'Z' {
			live = append(live, k.Pid)
		}
	}
	return live
}

// holdsFile reports whether the process pid has the file fi describes
// open, and as which descriptor.
func holdsFile(pid int, fi os.FileInfo) (int, bool) {
	fds, err := proc.Fds(pid)
	if err != nil {
		return 0, false // it has exited
	}
	for fd := range fds {
		open, err := os.Stat(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
		if err == nil && os.SameFile(fi, open) {
			return fd, true
		}
	}
	return 0, false
}

// Test that a second copy started with the same pid file exits non-zero
// with a message, and that the first goes on serving with the same pid and
// socket (recommendation 7).
func TestSecondCopyIsRefused(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "pidfile", 7)
	s := daemontest.New(t)
	first, _ := s.Start()
	pidFile := inodeOf(t, s.PidFile)
	second := s.Run(s.Command(s.Flags()...))
	require.NotEqualf(t, 0, second.Code, "a second copy with the same -pidfile %s must exit non-zero while the server %d runs; it exited 0 (stdout %q); %s", s.PidFile, first, second.Stdout, see(7))
	requireOneLine(t, second.Stderr, "the second copy's refusal")
	require.Containsf(t, second.Stderr, s.PidFile, "the second copy must be refused by the lock, before it touches the socket, and say so: its message must name the locked pid file %s; it is %q; %s", s.PidFile, second.Stderr, see(7))
	require.Equalf(t, first, s.ServerPid(), "the first server %d must still be the one listening on %s; %s", first, s.Socket, see(7))
	_, err := os.Lstat(s.PidFile)
	require.NoErrorf(t, err, "the refused copy must leave the server %d's pid file %s in place: it is gone, and a third copy would lock a new one and run beside the first; %s", first, s.PidFile, see(7))
	require.Equalf(t, pidFile, inodeOf(t, s.PidFile), "the refused copy must leave the server %d's pid file %s (inode %d) in place: it was replaced, and the server's lock is on a file nobody else will open; %s", first, s.PidFile, pidFile, see(7))
	s.RequireEcho()
}

// Test that a second copy's refusal names the pid of the server that holds
// the lock, as the pid file tells it (recommendation 8): the message must
// contain the running server's pid.
func TestRefusalNamesServerPid(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	first, _ := s.Start()
	second := s.Run(s.Command(s.Flags()...))
	require.NotEqualf(t, 0, second.Code, "a second copy with the same -pidfile %s must exit non-zero while the server %d runs; it exited 0 (stdout %q); %s", s.PidFile, first, second.Stdout, see(8))
	require.Containsf(t, second.Stderr, strconv.Itoa(first), "the second copy's message must name the pid that holds the lock, %d, read from the pid file; it is %q; %s", first, second.Stderr, see(8))
}

// Test that eight copies started at once leave one server: the others
// exit non-zero with a message (recommendation 7).
func TestConcurrentStartsLeaveOneServer(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "pidfile", 7)
	s := daemontest.New(t)
	const copies = 8 // more add launches, not interleavings, on a few cores
	results := make(chan launch.Result, copies)
	errs := make(chan error, copies)
	for range copies {
		go func() {
			r, err := s.Launch(s.Command(s.Flags()...))
			results <- r
			errs <- err
		}()
	}
	var winners []string
	for range copies {
		r := <-results
		require.NoError(t, <-errs, "a launcher must return")
		if r.Code == 0 {
			winners = append(winners, fmt.Sprintf("launcher %d: %q", r.Pid, strings.TrimSpace(r.Stdout)))
		} else {
			requireOneLine(t, r.Stderr, fmt.Sprintf("launcher %d, refused", r.Pid))
		}
	}
	require.Lenf(t, winners, 1, "of %d copies started at once with one -pidfile, exactly one launcher must exit 0; these did: %v; %s", copies, winners, see(7))
	var daemons []int
	s.Eventually(func() bool {
		daemons = s.Daemons()
		return len(daemons) == 1
	}, "of %d copies started at once, one server must run once the losers have exited; running: %v", copies, &daemons)
	require.Equalf(t, daemons[0], s.ServerPid(), "the one server running, %d, must be the one listening on %s; %s", daemons[0], s.Socket, see(7))
	s.RequireEcho()
}

// Test that a symbolic link, a directory, a FIFO or a device (/dev/null)
// at the -pidfile path is refused: the launcher exits non-zero with one
// line on its standard error, no server runs, and the file (and the file a
// link leads to) is left as it was (recommendation 7).
func TestPidFileMustBeRegularFile(t *testing.T) {
	t.Parallel()
	requireRefusesNonRegularFile(t, "pidfile", 7, func(s *daemontest.Sandbox) string { return s.PidFile })
}

// Test that a pid file another user owns, or that group or others may
// write, is refused (recommendation 7): such a file's contents, and its
// lock, are not the server's own. The launcher exits non-zero with one line
// that names the file, the file is left as it was, and no server runs.
func TestPidFileMustBePrivate(t *testing.T) {
	t.Parallel()
	requireRefusesForeignFile(t, "pidfile", 7, func(s *daemontest.Sandbox) string { return s.PidFile })
}

// Test that a server started under umask 000 starts again after kill -9:
// the pid file it created is one it accepts, writable by its owner alone
// whatever the umask (recommendation 7).
func TestRestartsUnderUmask000(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "pidfile", 7)
	s := daemontest.New(t)
	underUmask000 := func() *exec.Cmd {
		cmd := exec.Command("/bin/sh", append([]string{"-c", `umask 000; exec "$@"`, "sh", daemontest.Binary}, s.Flags()...)...)
		cmd.Env = s.Command().Env
		return cmd
	}
	r, err := s.Launch(underUmask000())
	require.NoError(t, err, "a launcher must return")
	require.Equalf(t, 0, r.Code, "started under umask 000, the server must create a pid file that it accepts (one that group and others cannot write, whatever the umask); the launcher exited %d, saying %q; %s", r.Code, strings.TrimSpace(r.Stderr), see(7))
	first := s.ServerPid()
	fi, err := os.Stat(s.PidFile)
	require.NoErrorf(t, err, "the server must create its pid file -pidfile %s; %s", s.PidFile, see(7))
	t.Logf("started under umask 000, server %d created %s with mode %v", first, s.PidFile, fi.Mode())
	s.Signal(first, syscall.SIGKILL)
	require.Truef(t, daemontest.WaitGone(first), "kill -9 %d: the server must be gone within %v", first, launch.Settle)
	r, err = s.Launch(underUmask000())
	require.NoError(t, err, "a launcher must return")
	require.Equalf(t, 0, r.Code, "after kill -9, a second start under umask 000 must accept the pid file %s that the first server created with mode %v (group and others must not be able to write it, whatever the umask); the launcher exited %d, saying %q; %s", s.PidFile, fi.Mode(), r.Code, strings.TrimSpace(r.Stderr), see(7))
}

// requireRefusesForeignFile checks that the program refuses the file at
// -flag when it is writable by group or others, or (as root) owned by
// another user, and leaves it as it was.
func requireRefusesForeignFile(t *testing.T, flag string, step int, pathOf func(*daemontest.Sandbox) string) {
	daemontest.RequireFlag(t, flag, step)
	for name, create := range map[string]func(path string) error{
		"writable by others": func(path string) error { return writeWithMode(path, 0o666) },
		"writable by group":  func(path string) error { return writeWithMode(path, 0o620) },
		"owned by nobody": func(path string) error {
			if err := writeWithMode(path, 0o644); err != nil {
				return err
			}
			return os.Chown(path, 65534, 65534)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if name == "owned by nobody" && os.Geteuid() != 0 {
				t.Skip("only root can give a file to another user")
			}
			s := daemontest.New(t)
			path := pathOf(s)
			require.NoErrorf(t, create(path), "set-up: a file %s at %s", name, path)
			before := snapshot(t, path)
			r := s.Run(s.Command(s.Flags()...))
			require.NotEqualf(t, 0, r.Code, "-%s %s, a file %s, must be refused: the launcher must exit non-zero; it exited 0 (stdout %q); %s", flag, path, name, r.Stdout, see(step))
			requireOneLine(t, r.Stderr, "the refusal of a file "+name+" at -"+flag)
			require.Containsf(t, r.Stderr, path, "the refusal must name the file %s; it is %q; %s", path, r.Stderr, see(step))
			require.Equalf(t, before, snapshot(t, path), "the file %s at -%s %s must be left as it was; %s", name, flag, path, see(step))
			var left []int
			s.Eventually(func() bool { left = s.Daemons(); return len(left) == 0 }, "with a file %s at -%s, no server may run; running: %v", name, flag, &left)
		})
	}
}

// writeWithMode creates an empty file at path with exactly mode perm.
func writeWithMode(path string, perm os.FileMode) error {
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return err
	}
	return os.Chmod(path, perm)
}

// Test that a socket someone still accepts connections on is never
// removed (recommendation 7): a second copy with another -pidfile but the
// same -socket, and a start where another program listens on -socket, both
// exit non-zero with one line, and the socket keeps its inode; the first
// server goes on serving.
func TestKeepsSocketSomeoneServes(t *testing.T) {
	t.Parallel()
	t.Run("another copy with another pid file", func(t *testing.T) {
		t.Parallel()
		daemontest.RequireFlag(t, "pidfile", 7)
		s := daemontest.New(t)
		first, _ := s.Start()
		inode := inodeOf(t, s.Socket)
		other := daemontest.New(t)
		r := other.Run(other.Command(append(other.Flags(), "-socket", s.Socket)...))
		require.NotEqualf(t, 0, r.Code, "a copy with -pidfile %s and the socket %s of the running server %d must be refused: it exited 0 (stdout %q); %s", other.PidFile, s.Socket, first, r.Stdout, see(7))
		requireOneLine(t, r.Stderr, "the refusal of a socket another server accepts on")
		require.Equalf(t, inode, inodeOf(t, s.Socket), "the socket %s must be the one the server %d bound (inode %d); %s", s.Socket, first, inode, see(7))
		require.Equalf(t, first, s.ServerPid(), "the first server %d must still be the one listening on %s; %s", first, s.Socket, see(7))
		s.RequireEcho()
	})
	t.Run("another program", func(t *testing.T) {
		t.Parallel()
		s := daemontest.New(t)
		ln, err := net.Listen("unix", s.Socket)
		require.NoErrorf(t, err, "set-up: listen on %s", s.Socket)
		defer ln.Close()
		inode := inodeOf(t, s.Socket)
		r := s.Run(s.Command(s.Flags()...))
		require.NotEqualf(t, 0, r.Code, "a start while another program listens on %s must be refused: it exited 0 (stdout %q); %s", s.Socket, r.Stdout, see(7))
		requireOneLine(t, r.Stderr, "the refusal of a socket another program accepts on")
		require.Equalf(t, inode, inodeOf(t, s.Socket), "the socket %s must still be the other program's (inode %d); %s", s.Socket, inode, see(7))
	})
}

// inodeOf returns the inode number of the file at path.
func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Lstat(path)
	require.NoErrorf(t, err, "%s must exist", path)
	return fi.Sys().(*syscall.Stat_t).Ino
}

// requireRefusesNonRegularFile requires that the program refuses to start,
// with one line, when the file its -flag names is a symbolic link, a
// directory, a FIFO or a device (/dev/null), and that it leaves the file
// as it was. pathOf gives the flag's path in a sandbox.
func requireRefusesNonRegularFile(t *testing.T, flag string, step int, pathOf func(*daemontest.Sandbox) string) {
	daemontest.RequireFlag(t, flag, step)
	for name, create := range map[string]func(path, dir string) error{
		"symbolic link": func(path, dir string) error {
			target := filepath.Join(dir, "precious")
			if err := os.WriteFile(target, []byte("keep me\n"), 0o600); err != nil {
				return err
			}
			return os.Symlink(target, path)
		},
		"directory": func(path, _ string) error { return os.Mkdir(path, 0o700) },
		"FIFO":      func(path, _ string) error { return unix.Mkfifo(path, 0o600) },
		"device":    func(path, _ string) error { return os.Symlink("/dev/null", path) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := daemontest.New(t)
			path := pathOf(s)
			require.NoErrorf(t, create(path, s.Dir), "set-up: a %s at %s", name, path)
			args := s.Flags()
			if name == "device" {
				args = append(args, "-"+flag, "/dev/null")
				path = "/dev/null"
			}
			before := snapshot(t, path)
			devNull := snapshot(t, "/dev/null")
			r := s.Run(s.Command(args...))
			require.NotEqualf(t, 0, r.Code, "-%s %s, a %s, must be refused: the launcher must exit non-zero; it exited 0 (stdout %q); %s", flag, path, name, r.Stdout, see(step))
			requireOneLine(t, r.Stderr, "the refusal of a "+name+" at -"+flag)
			require.Equalf(t, before, snapshot(t, path), "the %s at -%s %s must be left as it was; %s", name, flag, path, see(step))
			require.Equalf(t, devNull, snapshot(t, "/dev/null"), "/dev/null must be left as it was; %s", see(step))
			var left []int
			s.Eventually(func() bool { left = s.Daemons(); return len(left) == 0 }, "with a %s at -%s, no server may run; running: %v", name, flag, &left)
		})
	}
}

// snapshot describes the file at path, and the file a symbolic link there
// leads to: type, mode, owner and, for a regular file, its contents.
func snapshot(t *testing.T, path string) string {
	t.Helper()
	link, err := os.Lstat(path)
	require.NoErrorf(t, err, "%s must still be there", path)
	target, err := os.Stat(path)
	require.NoErrorf(t, err, "what %s leads to must still be there", path)
	desc := describe(link) + " -> " + describe(target)
	if target.Mode().IsRegular() {
		b, err := os.ReadFile(path)
		require.NoErrorf(t, err, "read %s", path)
		desc += fmt.Sprintf(" %q", b)
	}
	return desc
}

// describe gives a file's type, mode and owner.
func describe(fi fs.FileInfo) string {
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%v uid %d gid %d", fi.Mode(), st.Uid, st.Gid)
}

// Test that a pid file on a path that another user controls is refused
// (recommendation 7): through a symbolic link that user planted in a
// directory of theirs, in a directory group and others may write, in a
// directory of theirs, or as a hard link to a file of root's. The launcher
// exits non-zero with one line naming the path, and root's file is left as
// it was. Needs root.
func TestPidFilePathMustBeTrusted(t *testing.T) {
	t.Parallel()
	requireRefusesPlantedPath(t, "pidfile", 7, true)
}

// Test that a socket on a path that another user controls is refused
// (recommendation 7): the server must not remove a socket, or bind one,
// where another user's symbolic link or directory sends it. Needs root.
func TestSocketPathMustBeTrusted(t *testing.T) {
	t.Parallel()
	requireRefusesPlantedPath(t, "socket", 7, false)
}

// requireRefusesPlantedPath requires the program to refuse the path it is
// given for -flag when another user (nobody) controls a directory on the
// way, and, with hardLink, a hard link to a file of root's; and to leave
// root's file (a stale socket, for -socket) as it was.
func requireRefusesPlantedPath(t *testing.T, flag string, step int, hardLink bool) {
	daemontest.RequireFlag(t, flag, step)
	if os.Geteuid() != 0 {
		t.Skip("only root can give a directory to another user")
	}
	const nobody = 65534
	cases := map[string]func(dir string) (given, target string, err error){
		"symbolic link in another user's directory": func(dir string) (string, string, error) {
			planted, victim := filepath.Join(dir, "D"), filepath.Join(dir, "V")
			err := errors.Join(os.Mkdir(planted, 0o755), os.Chown(planted, nobody, nobody), os.Mkdir(victim, 0o755),
				os.Symlink(victim, filepath.Join(planted, "run")), os.Lchown(filepath.Join(planted, "run"), nobody, nobody))
			return filepath.Join(planted, "run", "f"), filepath.Join(victim, "f"), err
		},
		"directory that others may write": func(dir string) (string, string, error) {
			open := filepath.Join(dir, "W")
			err := errors.Join(os.Mkdir(open, 0o755), os.Chmod(open, 0o777))
			return filepath.Join(open, "f"), filepath.Join(open, "f"), err
		},
		"directory of another user": func(dir string) (string, string, error) {
			theirs := filepath.Join(dir, "N")
			err := errors.Join(os.Mkdir(theirs, 0o755), os.Chown(theirs, nobody, nobody))
			return filepath.Join(theirs, "f"), filepath.Join(theirs, "f"), err
		},
	}
	if hardLink {
		cases["hard link to a file of root's"] = func(dir string) (string, string, error) {
			return filepath.Join(dir, "f"), filepath.Join(dir, "f.orig"), nil
		}
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := daemontest.New(t)
			given, target, err := plant(s.Dir)
			require.NoErrorf(t, err, "set-up: %s for -%s", name, flag)
			require.NoErrorf(t, makeVictim(target, flag == "socket"), "set-up: root's file %s", target)
			if given != target {
				if _, err := os.Lstat(given); err != nil {
					require.NoErrorf(t, os.Link(target, given), "set-up: a hard link %s to %s", given, target)
				}
			}
			before := victimState(t, target)
			r := s.Run(s.Command(append(s.Flags(), "-"+flag, given)...))
			require.NotEqualf(t, 0, r.Code, "-%s %s, through a %s, must be refused: the launcher must exit non-zero; it exited 0 (stdout %q); %s", flag, given, name, r.Stdout, see(step))
			requireOneLine(t, r.Stderr, "the refusal of a "+name+" at -"+flag)
			require.Containsf(t, r.Stderr, given, "the refusal must name the path %s; it is %q; %s", given, r.Stderr, see(step))
			require.Equalf(t, before, victimState(t, target), "root's file %s, reached through -%s %s, must be left as it was; %s", target, flag, given, see(step))
			var left []int
			s.Eventually(func() bool { left = s.Daemons(); return len(left) == 0 }, "with a %s at -%s, no server may run; running: %v", name, flag, &left)
		})
	}
}

// makeVictim makes root's file at path: a stale socket, or a regular file
// with contents, mode 0644.
func makeVictim(path string, socket bool) error {
	if !socket {
		return errors.Join(os.WriteFile(path, []byte("keep me\n"), 0o600), os.Chmod(path, 0o644))
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Bind(fd, &unix.SockaddrUnix{Name: path}) // closed unlistened: stale
}

// victimState describes the file at path: its inode, and what snapshot says.
func victimState(t *testing.T, path string) string {
	t.Helper()
	return fmt.Sprintf("inode %d %s", inodeOf(t, path), snapshot(t, path))
}

// Test that no other user can hold the single-instance lock (recommendation
// 7): flock(2) needs only a read descriptor, so a pid file that others may
// open could be locked by anyone, and every start would then fail. After
// the server is killed with SIGKILL, nobody tries to lock the pid file it
// left; a new start must still succeed. Needs root and flock (util-linux).
func TestOtherUserCannotHoldLock(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "pidfile", 7)
	if os.Geteuid() != 0 {
		t.Skip("only root can act as another user")
	}
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("needs flock, from util-linux")
	}
	s := daemontest.New(t)
	require.NoError(t, os.Chmod(s.Dir, 0o711), "set-up: let other users reach the pid file's directory")
	first, _ := s.Start()
	s.Signal(first, unix.SIGKILL)
	require.Truef(t, daemontest.WaitGone(first), "set-up: the server %d must die of SIGKILL", first)
	holder := exec.Command(flock, "-x", "-n", s.PidFile, "sh", "-c", "echo locked; exec sleep 60")
	holder.Env = s.Command().Env // marked: the sandbox's sweep finds it
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := holder.StdoutPipe()
	require.NoError(t, err, "set-up: flock's output")
	var stderr bytes.Buffer
	holder.Stderr = &stderr
	require.NoError(t, holder.Start(), "set-up: start flock as nobody")
	defer func() {
		unix.Kill(-holder.Process.Pid, unix.SIGKILL)
		holder.Wait()
	}()
	line, _ := bufio.NewReader(out).ReadString('\n')
	t.Logf("as nobody: flock -x -n %s: %q %s", s.PidFile, line, strings.TrimSpace(stderr.String()))
	r := s.Run(s.Command(s.Flags()...))
	require.Equalf(t, 0, r.Code, "after the server %d was killed, nobody (uid 65534) tried to lock its pid file %s (flock said %q); a new start must still succeed, as no other user can open the pid file; it exited %d: %q; %s", first, s.PidFile, strings.TrimSpace(line), r.Code, strings.TrimSpace(r.Stderr), see(7))
}

// Test that the pid file holds the server's pid and a newline
// (recommendation 8).
func TestPidFileHoldsServerPid(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	s.RequireHolds(property.PidFile, server)
}

// Test that kill $(cat PIDFILE) stops the server (recommendation 8).
func TestKillByPidFileStopsServer(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	cmd := exec.Command("/bin/sh", "-c", `kill $(cat "$0")`, s.PidFile)
	out, err := reaper.CombinedOutput(cmd)
	require.NoErrorf(t, err, "kill $(cat %s) must succeed: %s; %s", s.PidFile, out, see(8))
	require.Truef(t, daemontest.WaitGone(server), "kill $(cat %s) must stop the server %d within %v; it still runs; %s", s.PidFile, server, launch.Settle, see(8))
}

// Test that start-stop-daemon --stop --pidfile stops the server
// (recommendation 8).
func TestStartStopDaemonStopsServer(t *testing.T) {
	t.Parallel()
	ssd, err := exec.LookPath("start-stop-daemon")
	if err != nil {
		t.Skip("start-stop-daemon is missing: apt-get install dpkg")
	}
	s := daemontest.New(t)
	server, _ := s.Start()
	// The server is the test's child (the test is a subreaper): reap it as
	// soon as it exits, or start-stop-daemon would find its zombie and wait
	// for it to die, as it would for a server no one reaps.
	exited := make(chan error, 1)
	go func() { _, err := reaper.WaitExit(server, launch.Settle+5*time.Second); exited <- err }()
	out, err := reaper.CombinedOutput(exec.Command(ssd, "--stop", "--pidfile", s.PidFile, "--retry", "5"))
	t.Logf("start-stop-daemon --stop --pidfile %s: %s", s.PidFile, out)
	require.NoErrorf(t, err, "start-stop-daemon --stop --pidfile %s must succeed: %s; %s", s.PidFile, out, see(8))
	require.NoErrorf(t, <-exited, "start-stop-daemon --stop must stop the server %d; %s", server, see(8))
}

// Test that after kill -9 of the server, while a client still holds a
// connection open, a new start succeeds at once: nothing but the server
// held the lock (recommendation 8).
func TestStartsAfterKill9(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	first, _ := s.Start()
	s.HoldConnection()

	s.Signal(first, syscall.SIGKILL)
	require.Truef(t, daemontest.WaitGone(first), "kill -9 %d: the server must be gone within %v", first, launch.Settle)
	second, _ := s.Start()
	require.NotEqualf(t, first, second, "after kill -9, a new server must listen on %s, not %d; %s", s.Socket, first, see(8))
	b, err := os.ReadFile(s.PidFile)
	require.NoErrorf(t, err, "read the pid file %s", s.PidFile)
	require.Equalf(t, strconv.Itoa(second)+"\n", string(b), "the pid file %s must hold the new server's pid %d and a newline; it holds %q; %s", s.PidFile, second, b, see(8))
}

// Test that a pid file left unlocked with anything in it, a live
// unrelated pid included, does not stop a start: the lock is the
// authority, and the file is rewritten (recommendation 8).
func TestStalePidFileIsRewritten(t *testing.T) {
	t.Parallel()
	for _, stale := range []string{"", "abc", "-1", "0", "1", "12 34", strconv.Itoa(os.Getpid())} {
		t.Run(fmt.Sprintf("%q", stale), func(t *testing.T) {
			t.Parallel()
			s := daemontest.New(t)
			// 0600, as the server creates it: one others may read is refused (step 07)
			require.NoErrorf(t, os.WriteFile(s.PidFile, []byte(stale+"\n"), 0o600), "set-up: write %q to %s", stale, s.PidFile)
			server, _ := s.Start()
			b, err := os.ReadFile(s.PidFile)
			require.NoErrorf(t, err, "read the pid file %s", s.PidFile)
			require.Equalf(t, strconv.Itoa(server)+"\n", string(b), "a stale pid file holding %q must be rewritten with the server's pid %d and a newline; it holds %q; %s", stale, server, b, see(8))
		})
	}
}

// startUnderUmask000 starts the server from a shell whose umask is 000, and
// returns the server's pid.
func startUnderUmask000(s *daemontest.Sandbox) int {
	cmd := exec.Command("/bin/sh", append([]string{"-c", `umask 000; exec "$@"`, "sh", daemontest.Binary}, s.Flags()...)...)
	cmd.Env = s.Command().Env
	server, _ := s.StartFrom(cmd)
	return server
}

// Test that the server runs with umask 027, even when started under umask
// 000 (recommendation 9).
func TestServerUmaskIs027(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server := startUnderUmask000(s)
	s.RequireHolds(property.Umask, server)
}

// Test that no file the server creates under umask 000 is writable by
// its group or others, or open to others at all (recommendation 9).
func TestCreatedFilesAreNotWorldWritable(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	startUnderUmask000(s)
	s.RequireEcho()
	for _, path := range []string{s.Socket, s.PidFile, s.Log} {
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // this step has no such file
		}
		require.NoErrorf(t, err, "stat %s", path)
		t.Logf("%v %s", fi.Mode(), path)
		require.Zerof(t, fi.Mode().Perm()&0o027, "started under umask 000, the server must create %s with no write for its group and nothing for others; its mode is %v; %s", path, fi.Mode(), see(9))
	}
}

// Test that other users cannot connect to a server started under umask
// 000: connecting needs write permission on the socket file
// (recommendation 9).
func TestOtherUsersCannotConnect(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to connect as another user")
	}
	s := daemontest.New(t)
	require.NoError(t, os.Chmod(s.Dir, 0o711), "set-up: let other users reach the socket's directory")
	startUnderUmask000(s)
	err := s.ConnectAs(daemontest.Nobody, s.Socket)
	require.Errorf(t, err, "user nobody must not be able to connect to %s, a server started under umask 000; it connected; %s", s.Socket, see(9))
	require.Containsf(t, err.Error(), "permission denied", "user nobody's connection to %s must fail for want of permission; it failed with %q; %s", s.Socket, err, see(9))
}

// Test that the server ignores SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU and
// SIGPIPE, and keeps serving after each (recommendation 10).
func TestServerIgnoresExtraneousSignals(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	s.RequireHolds(property.Signals, server)
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGPIPE} {
		s.Signal(server, sig)
		s.RequireEcho()
		st := s.Stat(server)
		require.NotEqualf(t, byte('T'), st.State, "after %s the server %d must serve on; it is stopped (state T in /proc/%d/stat); %s", unix.SignalName(sig), server, server, see(10))
	}
}

// Test that on SIGTERM the server exits with status 0, and removes its
// socket and its pid file (recommendation 10).
func TestSigtermStopsServerCleanly(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	s.Signal(server, syscall.SIGTERM)
	code := s.WaitExit(server)
	require.NotEqualf(t, -1, code, "on SIGTERM the server %d must shut down and exit with status 0; SIGTERM killed it: catch SIGTERM (signal.Notify) and let the main loop shut down, removing the socket and the pid file; %s", server, see(10))
	require.Equalf(t, 0, code, "on SIGTERM the server %d must exit with status 0; %s", server, see(10))
	for _, path := range []string{s.Socket, s.PidFile} {
		_, err := os.Lstat(path)
		require.ErrorIsf(t, err, fs.ErrNotExist, "on SIGTERM the server must remove %s; it is left behind; %s", path, see(10))
	}
}

// Test that shutdown removes the socket only while its path still names the
// socket this server bound (recommendation 10): when someone has deleted it
// and another program listens at that path now, SIGTERM must leave the other
// program's socket (same inode) in place, and the server must still exit 0.
// The same holds for the pid file: when someone has deleted it, another
// copy may have locked a new one at that path, and SIGTERM must leave that
// one in place.
func TestShutdownRemovesOnlyItsOwnSocket(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	require.NoErrorf(t, os.Remove(s.Socket), "set-up: delete the server's socket %s", s.Socket)
	ln, err := net.Listen("unix", s.Socket)
	require.NoErrorf(t, err, "set-up: listen on %s in the server's place", s.Socket)
	defer ln.Close()
	inode := inodeOf(t, s.Socket)
	require.NoErrorf(t, os.Remove(s.PidFile), "set-up: delete the server's pid file %s", s.PidFile)
	require.NoErrorf(t, os.WriteFile(s.PidFile, []byte("1\n"), 0o600), "set-up: another pid file at %s", s.PidFile)
	pidInode := inodeOf(t, s.PidFile)
	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(10))
	fi, err := os.Lstat(s.Socket)
	require.NoErrorf(t, err, "on SIGTERM the server %d must leave %s alone: that socket (inode %d) is another program's, which listens there now, and the server removed it; remove the socket only while the path still names the one the server bound (the same device and inode); %s", server, s.Socket, inode, see(10))
	require.Equalf(t, inode, fi.Sys().(*syscall.Stat_t).Ino, "on SIGTERM the server %d must leave %s alone: that socket (inode %d) is another program's; %s", server, s.Socket, inode, see(10))
	fi, err = os.Lstat(s.PidFile)
	require.NoErrorf(t, err, "on SIGTERM the server %d must leave the pid file %s alone: its own was deleted, and the file there now (inode %d) may be another copy's, and the server removed it; remove the pid file only while the path still names the one the server locked (the same device and inode); %s", server, s.PidFile, pidInode, see(10))
	require.Equalf(t, pidInode, fi.Sys().(*syscall.Stat_t).Ino, "on SIGTERM the server %d must leave the pid file %s alone: the file there now (inode %d) is not the one it locked; %s", server, s.PidFile, pidInode, see(10))
}

// Test that copies started while a server shuts down leave at most one
// server, which holds the socket and the pid file (recommendations 7 and
// 10).
func TestStartsDuringShutdownLeaveOneServer(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	first, _ := s.Start()
	const copies = 10
	results := make(chan launch.Result, copies)
	errs := make(chan error, copies)
	for range copies {
		go func() {
			r, err := s.Launch(s.Command(s.Flags()...))
			results <- r
			errs <- err
		}()
	}
	s.Signal(first, syscall.SIGTERM)
	var winners []string
	for range copies {
		r := <-results
		require.NoError(t, <-errs, "a launcher must return")
		if r.Code == 0 {
			winners = append(winners, fmt.Sprintf("launcher %d: %q", r.Pid, strings.TrimSpace(r.Stdout)))
		}
	}
	started := len(winners)
	var daemons []int
	s.Eventually(func() bool {
		daemons = s.Daemons()
		return len(daemons) == started && !slices.Contains(daemons, first)
	}, "the first server %d must exit on SIGTERM, and each of the %d successful starts leave one server; running: %v", first, started, &daemons)
	require.LessOrEqualf(t, started, 1, "of %d copies started while the server shut down, at most one launcher may exit 0; these did: %v; %s", copies, winners, see(10))
	if started == 1 {
		require.Equalf(t, daemons[0], s.ServerPid(), "the one server running, %d, must be the one listening on %s; %s", daemons[0], s.Socket, see(10))
		b, err := os.ReadFile(s.PidFile)
		require.NoErrorf(t, err, "the pid file %s must exist while server %d runs; %s", s.PidFile, daemons[0], see(10))
		require.Equalf(t, strconv.Itoa(daemons[0])+"\n", string(b), "the pid file %s must hold the running server's pid %d; it holds %q; %s", s.PidFile, daemons[0], b, see(10))
	}
}

// syslogDaemon and syslogErr are a syslog message's facility and severity
// numbers (RFC 3164, section 4.1.1).
const (
	syslogDaemon = 3
	syslogErr    = 3
)

// Test that the server sends its start and its stop to the -syslog socket
// as RFC 3164 messages with facility daemon and the tag NAME[PID]
// (recommendation 11).
func TestLogsStartAndStopToSyslog(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "syslog", 11)
	s := daemontest.New(t)
	logs := s.ListenSyslog()
	server, _ := s.Start()
	start := logs.WaitFor(s.Socket)
	s.RequireHolds(property.Syslog, server) // every message tagged with its pid has facility daemon
	require.Equalf(t, filepath.Base(daemontest.Binary), start.Tag, "the start message's tag must be the program's name; it is %q; %s", start.Tag, see(11))
	require.Equalf(t, server, start.Pid, "the start message's tag must name the server's pid %d; it names %d; %s", server, start.Pid, see(11))
	require.Containsf(t, start.Text, strconv.Itoa(server), "the start message must name the server's pid %d; it is %q; %s", server, start.Text, see(11))

	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(10))
	stop := logs.WaitFor("stop")
	require.Equalf(t, server, stop.Pid, "the stop message's tag must name the server's pid %d; it names %d; %s", server, stop.Pid, see(11))
}

// Test that the server sends its errors to syslog, with severity err: here
// the failure of a second copy to take the lock (recommendation 11).
func TestLogsErrorsToSyslog(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "syslog", 11)
	s := daemontest.New(t)
	logs := s.ListenSyslog()
	first, _ := s.Start()
	second := s.Run(s.Command(s.Flags()...))
	require.NotEqualf(t, 0, second.Code, "a second copy must be refused while server %d runs; it exited 0; %s", first, see(7))
	msg := logs.WaitMatch(func(m syslogsink.Message) bool { return m.Pid != first }, "a syslog message from the second copy (any pid but the server's %d)", first)
	require.Equalf(t, syslogDaemon, msg.Facility, "the second copy's error must have facility daemon (%d); it has %d; %s", syslogDaemon, msg.Facility, see(11))
	require.Equalf(t, syslogErr, msg.Severity, "the second copy's error must have severity err (%d); it has %d; %s", syslogErr, msg.Severity, see(11))
	require.Containsf(t, msg.Text, strconv.Itoa(first), "the second copy's error must name the pid that holds the lock, %d; it is %q; %s", first, msg.Text, see(11))
}

// Test that with no syslog daemon listening, the messages go to the -log
// file (recommendation 11).
func TestLogsToFileWithoutSyslog(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "syslog", 11)
	daemontest.RequireFlag(t, "log", 11)
	s := daemontest.New(t)
	server, _ := s.Start()
	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(10))
	b, err := os.ReadFile(s.Log)
	require.NoErrorf(t, err, "with nothing listening at -syslog, the server must write to the -log file %s; %s", s.Log, see(11))
	t.Logf("cat %s:\n%s", s.Log, b)
	tag := fmt.Sprintf("%s[%d]: ", filepath.Base(daemontest.Binary), server)
	require.Containsf(t, string(b), tag+"started", "the -log file %s must hold a line with %q; %s", s.Log, tag+"started", see(11))
	require.Containsf(t, string(b), tag+"stopped", "the -log file %s must hold a line with %q; %s", s.Log, tag+"stopped", see(11))
}

// Test that a symbolic link, a directory, a FIFO or a device (/dev/null)
// at the -log path is refused: the launcher exits non-zero with one line
// on its standard error, no server runs, and the file (and the file a link
// leads to) is left as it was (recommendation 11).
func TestLogFileMustBeRegularFile(t *testing.T) {
	t.Parallel()
	requireRefusesNonRegularFile(t, "log", 11, func(s *daemontest.Sandbox) string { return s.Log })
}

// Test that a -log file another user owns, or that group or others may
// write, is refused (recommendation 11): another user could write lines in
// the server's name. The launcher exits non-zero with one line naming the
// file, the file is left as it was, and no server runs.
func TestLogFileMustBePrivate(t *testing.T) {
	t.Parallel()
	requireRefusesForeignFile(t, "log", 11, func(s *daemontest.Sandbox) string { return s.Log })
}

// Test that a -log path in a missing directory is refused at start, with
// one line naming it (recommendation 11).
func TestLogInMissingDirectoryIsRefused(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "log", 11)
	s := daemontest.New(t)
	missing := filepath.Join(s.Dir, "missing", "log")
	r := s.Run(s.Command(append(s.Flags(), "-log", missing)...))
	require.NotEqualf(t, 0, r.Code, "-log %s, in a missing directory, must be refused: the launcher must exit non-zero; it exited 0; %s", missing, see(11))
	requireOneLine(t, r.Stderr, "the refusal of -log "+missing)
	require.Containsf(t, r.Stderr, missing, "the refusal must name the -log path %s; it is %q; %s", missing, r.Stderr, see(11))
}

// Test that a syslog socket that is bound but never read stalls neither the
// echo nor the shutdown on SIGTERM: logging never blocks the server
// (recommendation 11).
func TestUnreadSyslogDoesNotBlockServer(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	deaf := fillSyslogQueue(t, s)
	defer deaf.Close()

	server, _ := s.Start()
	const connections = 3
	for i := range connections {
		_, err := launch.Echo(s.Socket, []byte("unread syslog\n"))
		require.NoErrorf(t, err, "with a syslog socket %s that is bound but never read, its queue full, the server %d must still echo connection %d of %d: logging must not block it (send with MSG_DONTWAIT; what syslog cannot take goes to the -log file); %s", s.Syslog, server, i+1, connections, see(11))
	}
	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "with a syslog socket that is never read, the server %d must still exit with status 0 on SIGTERM: logging must not block it; %s", server, see(11))
}

// Test that messages syslog cannot take at once go to the -log file
// (recommendation 11): with a -syslog socket that is bound but never read,
// and whose queue is full, the start and stop messages must still be in
// the -log file, with the server's pid.
func TestStalledSyslogMessagesGoToFile(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "syslog", 11)
	daemontest.RequireFlag(t, "log", 11)
	s := daemontest.New(t)
	deaf := fillSyslogQueue(t, s)
	defer deaf.Close()
	server, _ := s.Start()
	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "with a syslog socket that is never read, the server %d must exit with status 0 on SIGTERM; %s", server, see(11))
	b, err := os.ReadFile(s.Log)
	require.NoErrorf(t, err, "the messages syslog could not take must go to the -log file %s; %s", s.Log, see(11))
	tag := fmt.Sprintf("%s[%d]: ", filepath.Base(daemontest.Binary), server)
	for _, want := range []string{tag + "started", tag + "stopped"} {
		require.Containsf(t, string(b), want, "syslog's queue was full, so the -log file %s must hold %q; it holds %q; %s", s.Log, want, b, see(11))
	}
}

// fillSyslogQueue binds a datagram socket at the sandbox's -syslog path,
// never reads it, and fills its queue, so that the next datagram sent
// there would block. The caller closes it.
func fillSyslogQueue(t *testing.T, s *daemontest.Sandbox) *net.UnixConn {
	t.Helper()
	deaf, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.Syslog, Net: "unixgram"})
	require.NoErrorf(t, err, "set-up: bind a datagram socket at %s", s.Syslog)
	sender, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err, "set-up: a datagram socket")
	defer unix.Close(sender)
	queued := 0
	for ; ; queued++ {
		err := unix.Sendto(sender, []byte("filler"), 0, &unix.SockaddrUnix{Name: s.Syslog})
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		require.NoErrorf(t, err, "set-up: fill the queue of %s", s.Syslog)
	}
	t.Logf("the syslog socket's queue is full after %d datagrams", queued)
	return deaf
}

// Test that a path cannot forge a log line (recommendation 11): with a
// newline in -socket, and in -pidfile for a second copy's refusal, every
// line of the -log file must come from the server (NAME[PID]: ...), none
// may start with "FORGED", and the refused launcher says why in one line.
func TestPathsCannotForgeLogLines(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "syslog", 11)
	daemontest.RequireFlag(t, "log", 11)
	s := daemontest.New(t)
	socket := filepath.Join(s.Dir, "x\nFORGED: socket")
	pidfile := filepath.Join(s.Dir, "p\nFORGED: pid file")
	args := append(s.Flags(), "-socket", socket, "-pidfile", pidfile)
	first := s.Run(s.Command(args...))
	require.Equalf(t, 0, first.Code, "a server with a newline in its -socket path must start (a path may hold any byte but NUL); it exited %d: %q; %s", first.Code, first.Stderr, see(11))
	second := s.Run(s.Command(args...))
	require.NotEqualf(t, 0, second.Code, "a second copy with the same -pidfile must be refused; %s", see(7))
	requireOneLine(t, second.Stderr, "the refusal of a second copy whose -pidfile holds a newline")
	// The refused copy may write its line after its launcher has exited:
	// wait for it, so that the file is read with both servers' lines in it.
	var b []byte
	s.Eventually(func() bool {
		b, _ = os.ReadFile(s.Log)
		return strings.Contains(string(b), "another copy is running")
	}, "with nothing listening at -syslog, the -log file %s must hold the second copy's refusal, \"another copy is running\"; it holds %q; %s", s.Log, &b, see(11))
	tag := regexp.MustCompile(`^\w{3} [ \d]\d \d\d:\d\d:\d\d ` + regexp.QuoteMeta(filepath.Base(daemontest.Binary)) + `\[\d+\]: `)
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		require.Truef(t, tag.MatchString(line), "every line of the -log file %s must be one of the server's, \"Mon DD HH:MM:SS NAME[PID]: ...\"; this one is forged: %q; the file holds %q; %s", s.Log, line, b, see(11))
	}
}

// Test that a server that found no syslog daemon at its start uses one
// that appears later (recommendation 11).
func TestUsesSyslogStartedLater(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "syslog", 11)
	s := daemontest.New(t)
	server, _ := s.Start() // nothing listens at -syslog yet: the start goes to the file
	logs := s.ListenSyslog()
	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(10))
	stop := logs.WaitFor("stop")
	require.Equalf(t, server, stop.Pid, "the stop message, sent to a syslog socket bound after the start, must name the server's pid %d; it names %d; %s", server, stop.Pid, see(11))
}

// Test that a fatal error of the Go runtime leaves its trace in the -log
// file: SIGQUIT makes the runtime write every goroutine's stack to
// descriptor 2 and exit (recommendation 11).
func TestRuntimeDumpGoesToLogFile(t *testing.T) {
	t.Parallel()
	daemontest.RequireGoProgram(t, "SIGQUIT's dump of every goroutine is the Go runtime's; a C program dies of SIGQUIT without a word")
	daemontest.RequireFlag(t, "log", 11)
	s := daemontest.New(t)
	server, _ := s.Start()
	s.Signal(server, syscall.SIGQUIT)
	require.Equalf(t, 2, s.WaitExit(server), "after SIGQUIT the Go runtime must end the server %d with status 2", server)
	b, err := os.ReadFile(s.Log)
	require.NoErrorf(t, err, "the -log file %s must exist; %s", s.Log, see(11))
	require.Containsf(t, string(b), "SIGQUIT", "descriptor 2 of the server must be the -log file %s, so the runtime's dump after SIGQUIT lands there; the file has no \"SIGQUIT\" (%d bytes); %s", s.Log, len(b), see(11))
	require.Containsf(t, string(b), "goroutine ", "the runtime's dump in the -log file %s must list the goroutines; %s", s.Log, see(11))
}

// Test that a -log file on a path that another user controls is refused
// (recommendation 11): through a symbolic link that user planted in a
// directory of theirs, in a directory group and others may write, in a
// directory of theirs, or as a hard link to a file of root's, which would
// get the server's lines appended. Needs root.
func TestLogFilePathMustBeTrusted(t *testing.T) {
	t.Parallel()
	requireRefusesPlantedPath(t, "log", 11, true)
}

// Test that a -log file renamed or deleted, as logrotate does without
// copytruncate, is reopened (recommendation 11): the server's next message
// (here its stop, on SIGTERM) goes to a new file at the -log path, not to
// the renamed one.
func TestRotatedLogIsReopened(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "log", 11)
	for _, how := range []string{"renamed", "deleted"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			s := daemontest.New(t)
			server, _ := s.Start()
			old := s.Log + ".1"
			if how == "renamed" {
				require.NoErrorf(t, os.Rename(s.Log, old), "set-up: mv %s %s", s.Log, old)
			} else {
				require.NoErrorf(t, os.Remove(s.Log), "set-up: rm %s", s.Log)
			}
			s.Signal(server, unix.SIGTERM)
			require.Equalf(t, 0, s.WaitExit(server), "the server %d must exit 0 on SIGTERM", server)
			b, err := os.ReadFile(s.Log)
			require.NoErrorf(t, err, "after the -log file was %s, the server %d must log its stop in a new file at %s; %s", how, server, s.Log, see(11))
			require.Containsf(t, string(b), "stopped", "the new -log file %s must hold the server's stop message; it holds %q; %s", s.Log, b, see(11))
			if how == "renamed" {
				b, _ = os.ReadFile(old)
				require.NotContainsf(t, string(b), "stopped", "the renamed log %s must not get the server's later messages; it holds %q; %s", old, b, see(11))
			}
		})
	}
}

// Test that accept failures are logged at most once a second (recommendation
// 11): under a descriptor limit too low for one more connection, a queued
// client makes accept fail again and again, and the log must not flood.
// Then the -log file is made to refuse every write too (RLIMIT_FSIZE), with
// no syslog listening: the messages of the next while are lost, and the
// stop message, once the file takes writes again, must say how many, never
// lose them silently.
func TestAcceptFailuresAreLoggedOnceASecond(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "log", 11)
	s := daemontest.New(t)
	server, _ := s.Start()
	var limit unix.Rlimit
	require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_NOFILE, nil, &limit), "set-up: read the server %d's descriptor limit", server)
	normal := limit.Cur
	limit.Cur = 3 // descriptors 0, 1 and 2 only: accept fails with EMFILE
	require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_NOFILE, &limit, nil), "set-up: lower the server %d's descriptor limit", server)
	defer func() {
		limit.Cur = normal
		unix.Prlimit(server, unix.RLIMIT_NOFILE, &limit, nil)
	}()
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: s.Socket, Net: "unix"})
	require.NoErrorf(t, err, "connect to %s", s.Socket)
	defer conn.Close()
	const window = 2500 * time.Millisecond
	time.Sleep(window) // the measurement: messages logged while accept fails
	b, err := os.ReadFile(s.Log)
	require.NoErrorf(t, err, "read the log %s", s.Log)
	lines := strings.Count(string(b), "accept:")
	t.Logf("%d accept messages in %v", lines, window)
	require.NotZerof(t, lines, "the server %d must log that accept fails (in %s); %s", server, s.Log, see(11))
	require.LessOrEqualf(t, lines, 3, "in %v of failing accepts, the server %d must log at most one message a second (3); it logged %d in %s; %s", window, server, lines, s.Log, see(11))

	// A write beyond RLIMIT_FSIZE fails with EFBIG (the Go runtime
	// ignores the SIGXFSZ that comes with it): the file takes no more.
	var fsize unix.Rlimit
	require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_FSIZE, nil, &fsize), "set-up: read the server %d's file size limit", server)
	full := fsize
	full.Cur = uint64(len(b))
	require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_FSIZE, &full, nil), "set-up: limit the server %d's files to the log's size, %d bytes", server, len(b))
	defer unix.Prlimit(server, unix.RLIMIT_FSIZE, &fsize, nil)
	time.Sleep(window) // the loss: one message at least is due in this while
	require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_FSIZE, &fsize, nil), "lift the server %d's file size limit", server)
	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(10))
	b, err = os.ReadFile(s.Log)
	require.NoErrorf(t, err, "read the log %s", s.Log)
	require.Containsf(t, string(b), "earlier messages lost", "for %v neither syslog (nothing listens at -syslog) nor the -log file %s (RLIMIT_FSIZE) took the server %d's accept messages; its next message must say how many were lost (\"(N earlier messages lost)\"); %s", window, s.Log, server, see(11))
}

// Test that a worker that cannot start for want of descriptors is logged
// with that cause (recommendation 11): at descriptor limits just above what
// the server holds, clients arriving together must never make it log "bad
// file descriptor", which names no cause an operator can act on.
func TestWorkerStartFailureNamesCause(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "log", 11)
	s := daemontest.New(t)
	server, _ := s.Start()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", server))
	require.NoErrorf(t, err, "read /proc/%d/fd", server)
	highest := 0
	for _, fd := range fds {
		n, _ := strconv.Atoi(fd.Name())
		highest = max(highest, n)
	}
	var limit unix.Rlimit
	require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_NOFILE, nil, &limit), "set-up: read the server %d's descriptor limit", server)
	normal := limit.Cur
	defer func() {
		limit.Cur = normal
		unix.Prlimit(server, unix.RLIMIT_NOFILE, &limit, nil)
	}()
	for extra := 2; extra <= 5; extra++ {
		limit.Cur = uint64(highest + extra)
		require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_NOFILE, &limit, nil), "set-up: set the server %d's descriptor limit", server)
		done := make(chan bool)
		for range 20 {
			go func() {
				launch.Echo(s.Socket, []byte("hi\n")) // may fail: the server drops clients it cannot serve
				done <- true
			}()
		}
		for range 20 {
			<-done
		}
	}
	b, err := os.ReadFile(s.Log)
	require.NoErrorf(t, err, "read the log %s", s.Log)
	require.NotContainsf(t, string(b), "bad file descriptor", "at descriptor limits just above the %d the server %d holds, a worker that cannot start must be logged with its cause (out of descriptors), not %q; the log %s holds %q; %s", highest, server, "bad file descriptor", s.Log, b, see(11))
}

// Test that a real syslog daemon, rsyslogd, receives the server's start
// message (recommendation 11).
func TestRsyslogReceivesServerLog(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "syslog", 11)
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		t.Skip("rsyslogd is missing: apt-get install rsyslog")
	}
	s := daemontest.New(t)
	messages := filepath.Join(s.Dir, "messages")
	conf := filepath.Join(s.Dir, "rsyslog.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(`
global(workDirectory=%q)
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket=%q)
*.* action(type="omfile" file=%q)
`, s.Dir, s.Syslog, messages)), 0o600), "set-up: write "+conf)
	cmd := exec.Command(rsyslogd, "-n", "-f", conf, "-i", filepath.Join(s.Dir, "rsyslogd.pid"))
	cmd.Env = s.Command().Env // marked: the sandbox stops it when the test ends
	out, err := os.Create(filepath.Join(s.Dir, "rsyslogd.out"))
	require.NoError(t, err, "set-up: create rsyslogd.out")
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	require.NoErrorf(t, cmd.Start(), "set-up: start %s", rsyslogd)
	t.Logf("started rsyslogd (pid %d) with %s", cmd.Process.Pid, conf)
	s.Eventually(func() bool {
		fi, err := os.Stat(s.Syslog)
		return err == nil && fi.Mode().Type() == fs.ModeSocket
	}, "rsyslogd listens on %s", s.Syslog)

	server, _ := s.Start()
	want := fmt.Sprintf("%s[%d]: started", filepath.Base(daemontest.Binary), server)
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(messages)
		return strings.Contains(string(b), want)
	}, launch.Settle, 10*time.Millisecond, "rsyslogd must write %q to %s within %v; %s", want, messages, launch.Settle, see(11))
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

// Test that the server's standard input is /dev/null open for reading and
// its standard output and error are open for writing, as the "flags:" line
// of /proc/PID/fdinfo/N shows: a /dev/null opened read-only makes every
// write to descriptor 1 or 2 fail with EBADF, and a library that checks
// (or a panic's stack trace) finds no place to write (recommendation 6).
func TestStandardFilesAreOpenForTheirUse(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	fds, err := proc.Fds(server)
	require.NoErrorf(t, err, "read /proc/%d/fd", server)
	for fd, use := range []string{"reading", "writing", "writing"} {
		if fd != 2 || fds[fd] != s.Log { // from step 11, 2 may be the -log file
			require.Equalf(t, "/dev/null", fds[fd], "the server's descriptor %d must be open on /dev/null: /proc/%d/fd/%d -> %s; %s", fd, server, fd, fds[fd], see(6))
		}
		mode := accessMode(t, server, fd)
		ok := mode == unix.O_RDWR || (use == "reading") == (mode == unix.O_RDONLY)
		require.Truef(t, ok, "the server's descriptor %d must be open for %s: the access mode in /proc/%d/fdinfo/%d is %s; open /dev/null with O_RDWR; %s", fd, use, server, fd, accessModeName(mode), see(6))
	}
}

// accessMode returns the access mode (O_RDONLY, O_WRONLY or O_RDWR) with
// which pid holds descriptor fd, from the octal "flags:" line of
// /proc/PID/fdinfo/FD.
func accessMode(t *testing.T, pid, fd int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	require.NoErrorf(t, err, "read /proc/%d/fdinfo/%d", pid, fd)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			require.NoErrorf(t, err, "parse the flags of /proc/%d/fdinfo/%d: %q", pid, fd, line)
			return int(flags) & unix.O_ACCMODE
		}
	}
	require.FailNowf(t, "no flags", "/proc/%d/fdinfo/%d has no \"flags:\" line: %q", pid, fd, b)
	return 0
}

// accessModeName names an access mode for messages.
func accessModeName(mode int) string {
	switch mode {
	case unix.O_RDONLY:
		return "O_RDONLY (read only)"
	case unix.O_WRONLY:
		return "O_WRONLY (write only)"
	case unix.O_RDWR:
		return "O_RDWR"
	}
	return fmt.Sprintf("%#o", mode)
}

// Test that the lock lasts as long as the server, however often the
// garbage collector runs: an *os.File that nothing references any more is
// closed by the collector, which frees its flock, and then a second copy
// starts (recommendation 7). The server runs with GOGC=1 and a large
// variable in its environment, which it copies for every worker it
// starts: the collector runs every few connections, and a lock file left
// unreferenced is closed within ten (seven to ten here).
func TestLockLastsThroughGarbageCollection(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "pidfile", 7)
	daemontest.RequireGoProgram(t, "GOGC sets how often the Go runtime collects garbage")
	s := daemontest.New(t)
	cmd := s.Command(s.Flags()...)
	cmd.Env = append(cmd.Env, "GOGC=1", "DAEMONTEST_BALLAST="+strings.Repeat("x", 100<<10))
	first, _ := s.StartFrom(cmd)
	const connections = 20 // twice the ten within which an unreferenced lock file is closed
	for i := range connections {
		_, err := launch.Echo(s.Socket, []byte("collect\n"))
		require.NoErrorf(t, err, "the server %d, run with GOGC=1, must echo connection %d of %d; %s", first, i+1, connections, see(1))
	}
	// Another socket: the second copy must be refused by the lock alone.
	second := s.Run(s.Command(append(s.Flags(), "-socket", filepath.Join(s.Dir, "second.sock"))...))
	require.NotEqualf(t, 0, second.Code, "after %d connections under GOGC=1, a second copy with the same -pidfile %s (and another -socket) must still be refused while the server %d runs; it exited 0 (stdout %q): the server's lock went away, as when nothing keeps the locked *os.File referenced and the garbage collector closes it; keep it in the server's state until shutdown; %s", connections, s.PidFile, first, second.Stdout, see(7))
	require.Equalf(t, first, s.ServerPid(), "the first server %d must still be the one listening on %s; %s", first, s.Socket, see(7))
}

// Test that a socket whose listen queue is full is not taken for a stale
// one: its server is only slow to accept. A connect that does not wait
// fails with EAGAIN there, not ECONNREFUSED, and only a refused connection
// proves a socket stale (recommendation 7).
func TestKeepsSocketWithFullListenQueue(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "pidfile", 7)
	s := daemontest.New(t)
	queued := listenWithFullQueue(t, s.Socket)
	inode := inodeOf(t, s.Socket)
	r := s.Run(s.Command(s.Flags()...))
	require.NotEqualf(t, 0, r.Code, "a start while another program listens on %s, with %d connections waiting in its full queue, must be refused: it exited 0 (stdout %q); a connect that fails with EAGAIN means someone listens; %s", s.Socket, queued, r.Stdout, see(7))
	require.Equalf(t, inode, inodeOf(t, s.Socket), "the socket %s, whose listen queue is full, must still be the other program's (inode %d): it was removed as stale; %s", s.Socket, inode, see(7))
}

// listenWithFullQueue listens on a Unix socket at path with the shortest
// queue, never accepts, and connects to it without waiting until a
// connect fails with EAGAIN: the queue is full. It returns how many
// connections wait in it. All is closed when the test ends.
func listenWithFullQueue(t *testing.T, path string) (queued int) {
	t.Helper()
	ln, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err, "set-up: socket")
	t.Cleanup(func() { unix.Close(ln) })
	require.NoErrorf(t, unix.Bind(ln, &unix.SockaddrUnix{Name: path}), "set-up: bind %s", path)
	require.NoErrorf(t, unix.Listen(ln, 0), "set-up: listen on %s", path)
	for queued < 100 {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err, "set-up: socket")
		t.Cleanup(func() { unix.Close(fd) })
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err == unix.EAGAIN {
			t.Logf("%s: %d connections wait in its listen queue; one more gets EAGAIN", path, queued)
			return queued
		}
		require.NoErrorf(t, err, "set-up: connect to %s", path)
		queued++
	}
	require.FailNowf(t, "set-up", "the listen queue of %s never filled: %d connections wait", path, queued)
	return queued
}

// Test that a stale pid file longer than any pid is replaced, not
// overwritten from its start: "kill $(cat PIDFILE)" must read the server's
// pid and nothing after it, or it signals other processes too
// (recommendation 8).
func TestLongStalePidFileIsReplaced(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "pidfile", 7)
	s := daemontest.New(t)
	const stale = "99999999999\n"
	require.NoErrorf(t, os.WriteFile(s.PidFile, []byte(stale), 0o600), "set-up: write %q to %s", stale, s.PidFile)
	server, _ := s.Start()
	b, err := os.ReadFile(s.PidFile)
	require.NoErrorf(t, err, "read the pid file %s", s.PidFile)
	require.Equalf(t, strconv.Itoa(server)+"\n", string(b), "a stale pid file holding %q, longer than any pid, must hold exactly the server's pid %d and a newline; it holds %q: truncate the file before writing; %s", stale, server, b, see(8))
}

// Test that no logged string holds a control character but the final
// newline: a path with a carriage return, an escape sequence, DEL or a C1
// control, written raw, would overwrite, hide or recolour what an
// administrator reads with tail or journalctl (recommendation 11). The
// server refuses a -socket path through a directory so named, and the
// path reaches the log inside an error the kernel gave for it: lstat(2)
// on the way fails with ENOTDIR where the directory is a regular file,
// and with ENOENT where there is none.
func TestLoggedStringsHaveNoControlCharacters(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "syslog", 11)
	daemontest.RequireFlag(t, "log", 11)
	for _, c := range []struct{ to, dir string }{
		{"syslog", "a regular file"}, {"syslog", "missing"},
		{"the -log file", "a regular file"}, {"the -log file", "missing"},
	} {
		t.Run(c.to+", directory "+c.dir, func(t *testing.T) {
			t.Parallel()
			to, dir := c.to, c.dir
			s := daemontest.New(t)
			var sink *daemontest.Syslog
			if to == "syslog" {
				sink = s.ListenSyslog()
			}
			notDir := filepath.Join(s.Dir, "a\rb\x1b[2Jc\x07d\x7fe\u0085f\u009bg")
			if dir == "a regular file" {
				require.NoErrorf(t, os.WriteFile(notDir, nil, 0o600), "set-up: create %q", notDir)
			}
			r := s.Run(s.Command(append(s.Flags(), "-socket", filepath.Join(notDir, "sock"))...))
			require.NotEqualf(t, 0, r.Code, "a -socket whose directory is %s must be refused; it exited 0 (stdout %q); %s", dir, r.Stdout, see(1))
			if sink != nil {
				m := sink.WaitFor("sock")
				requireNoControlCharacters(t, "the syslog datagram", m.Text, see(11))
			} else {
				var b []byte
				s.Eventually(func() bool {
					b, _ = os.ReadFile(s.Log)
					return strings.Contains(string(b), "sock")
				}, "with nothing listening at -syslog, the -log file %s must hold the server's refusal of the socket path; it holds %q; %s", s.Log, &b, see(11))
				for _, line := range strings.SplitAfter(string(b), "\n") {
					requireNoControlCharacters(t, "a line of the -log file", strings.TrimSuffix(line, "\n"), see(11))
				}
			}
			requireNoControlCharacters(t, "the launcher's standard error", strings.TrimSuffix(r.Stderr, "\n"), see(1))
		})
	}
}

// requireNoControlCharacters requires text to hold no C0 or C1 control
// character and no DEL, raw: each must be escaped (strconv.Quote does).
func requireNoControlCharacters(t *testing.T, what, text, where string) {
	t.Helper()
	for i, r := range text {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			require.FailNowf(t, "a raw control character", "%s must hold no control character but its final newline: it holds %U at byte %d, raw: %q; escape every control character (unicode.IsControl), not only the newline; %s", what, r, i, text, where)
		}
	}
}

// Test that copies refused while the server runs add their messages to
// the -log file after the server's, and overwrite none: every process
// opens the file with O_APPEND, so each write goes to its end whoever
// else writes there (recommendation 11).
func TestRefusedCopiesAppendToLog(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "syslog", 11)
	daemontest.RequireFlag(t, "log", 11)
	s := daemontest.New(t)
	server, _ := s.Start()
	tag := fmt.Sprintf("%s[%d]: ", filepath.Base(daemontest.Binary), server)
	s.Eventually(func() bool {
		b, _ := os.ReadFile(s.Log)
		return strings.Contains(string(b), tag+"started")
	}, "the -log file %s must hold the server's %q line; %s", s.Log, tag+"started", see(11))
	const refused = 3
	for range refused {
		r := s.Run(s.Command(s.Flags()...))
		require.NotEqualf(t, 0, r.Code, "a second copy with the same -pidfile must be refused; %s", see(7))
	}
	// A refused copy logs once it has told its launcher.
	var b []byte
	s.Eventually(func() bool {
		b, _ = os.ReadFile(s.Log)
		return strings.Count(string(b), "\n") >= 1+refused
	}, "the -log file %s must hold the server's line and one from each of the %d refused copies; it holds %q: open the file with O_APPEND, or a copy writes over the lines before it; %s", s.Log, refused, &b, see(11))
	t.Logf("cat %s:\n%s", s.Log, b)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	form := regexp.MustCompile(`^\w{3} [ \d]\d \d\d:\d\d:\d\d ` + regexp.QuoteMeta(filepath.Base(daemontest.Binary)) + `\[\d+\]: `)
	for _, line := range lines {
		require.Truef(t, form.MatchString(line), "every line of the -log file %s must be a whole message, \"Mon DD HH:MM:SS NAME[PID]: ...\"; this one is garbled: %q: open the file with O_APPEND, or each copy writes from where its own offset says; %s", s.Log, line, see(11))
	}
	require.Containsf(t, string(b), tag+"started", "the server's %q line must still be in the -log file %s after %d refused copies wrote there; the file holds %q: a copy wrote over it; open the file with O_APPEND; %s", tag+"started", s.Log, refused, b, see(11))
}
