// The tests check, one test a property, what this step and every step
// before it make true of the server, and the echo service and command line
// that all steps share. They treat the program as a black box: they build
// this directory, launch it as a shell would, and look at /proc.
package main_test

import (
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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"daemon-steps/internal/daemontest"
	"daemon-steps/internal/proc"
)

func TestMain(m *testing.M) { os.Exit(daemontest.Main(m)) }

// Test that the launcher returns with status 0 while the server goes on
// answering (recommendation 1).
func TestLauncherReturnsWhileServerServes(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, launch := s.Start()
	require.NotEqual(t, launch.Pid, server, "the server is a process of its own")
	s.RequireEcho()
}

// Test that once the launcher has returned, the server's parent is init or
// the nearest child subreaper (this test process), not the launcher
// (recommendation 1).
func TestServerParentIsNotLauncher(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, launch := s.Start()
	st := s.Stat(server)
	require.NotEqual(t, launch.Pid, st.PPid)
	require.Contains(t, []int{1, os.Getpid()}, st.PPid, "the parent is init or the test process, a child subreaper")
}

// Test that the launcher names the server's pid and socket in one line.
func TestLauncherNamesServerPidAndSocket(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, launch := s.Start()
	require.Equal(t, 1, strings.Count(launch.Stdout, "\n"), "one line")
	require.Contains(t, strings.Fields(launch.Stdout), strconv.Itoa(server))
	require.Contains(t, launch.Stdout, s.Socket)
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
		got, err := daemontest.Echo(s.Socket, data)
		require.NoError(t, err, name)
		require.True(t, bytes.Equal(data, got), "%s: sent %d bytes, got %d back", name, len(data), len(got))
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
	require.NoError(t, err)
	var workers []int
	for _, k := range kids {
		if k.State != 'Z' {
			workers = append(workers, k.Pid)
		}
	}
	t.Logf("live children of the server: %v", workers)
	require.GreaterOrEqual(t, len(workers), open, "a live child of the server for each open connection")
	serverSockets := sockets(t, server)
	for _, w := range workers {
		for _, sock := range sockets(t, w) {
			require.NotContains(t, serverSockets, sock, "worker %d holds a socket of the server's: the listening socket", w)
		}
	}
}

// sockets returns the "socket:[INODE]" descriptors that pid holds.
func sockets(t *testing.T, pid int) []string {
	fds, err := proc.Fds(pid)
	require.NoError(t, err)
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
	require.NoError(t, err)
	ln.SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
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
			require.NoError(t, create(s.Socket))
			before, err := os.Lstat(s.Socket)
			require.NoError(t, err)
			r := s.Run(s.Command(s.Flags()...))
			require.NotEqual(t, 0, r.Code)
			requireOneLine(t, r.Stderr)
			after, err := os.Lstat(s.Socket)
			require.NoError(t, err, "the %s is still there", name)
			require.Equal(t, before.Mode(), after.Mode())
			require.Equal(t, before.ModTime(), after.ModTime())
		})
	}
}

// requireOneLine requires msg to be one non-empty line.
func requireOneLine(t *testing.T, msg string) {
	t.Helper()
	require.NotEmpty(t, strings.TrimSpace(msg), "a message on standard error")
	require.Equal(t, 1, strings.Count(msg, "\n"), "one line: %q", msg)
}

// Test that a bad command line gets a clear error and a non-zero exit,
// creates nothing, and leaves a running server alone.
func TestRejectsBadCommandLines(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()

	for _, bad := range [][]string{{"-no-such-flag"}, {"stray-argument"}} {
		r := s.Run(s.Command(append(s.Flags(), bad...)...))
		require.Equal(t, 2, r.Code, "%v: exit status 2, as for a usage error", bad)
		require.Contains(t, r.Stderr, "Usage", "%v: the usage is shown", bad)
	}
	long := s.Dir + "/" + strings.Repeat("x", 108-len(s.Dir)-1)
	require.Len(t, long, 108)
	// A sandbox of its own for the bad paths: sharing the running server's
	// files (its lock, from step 07) would make them fail for another reason.
	other := daemontest.New(t)
	for name, path := range map[string]string{
		"missing directory": filepath.Join(s.Dir, "missing", "s.sock"),
		"108-byte path":     long,
		"abstract name":     "@daemon-steps-test",
	} {
		r := other.Run(other.Command(append(other.Flags(), "-socket", path)...))
		require.NotEqual(t, 0, r.Code, name)
		requireOneLine(t, r.Stderr)
		require.Contains(t, r.Stderr, path, "%s: the message names the path", name)
		require.NotContains(t, r.Stderr, "goroutine", "%s: no stack trace", name)
		_, err := os.Lstat(path)
		require.ErrorIs(t, err, fs.ErrNotExist, "%s: nothing created", name)
	}
	require.True(t, daemontest.Alive(server), "the running server is unharmed")
	got, err := daemontest.PeerPid(s.Socket)
	require.NoError(t, err)
	require.Equal(t, server, got, "the same server still listens")
}

// Test that a socket path of 107 bytes, the most sun_path holds, works.
func TestAcceptsLongestSocketPath(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	s.Socket = s.Dir + "/" + strings.Repeat("x", 107-len(s.Dir)-1)
	require.Len(t, s.Socket, 107)
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
	require.NoError(t, unix.Prlimit(server, unix.RLIMIT_NOFILE, nil, &limit))
	normal := limit.Cur
	limit.Cur = 3 // descriptors 0, 1 and 2 only: accept fails with EMFILE
	require.NoError(t, unix.Prlimit(server, unix.RLIMIT_NOFILE, &limit, nil))
	t.Logf("prlimit --pid %d --nofile=3:%d", server, limit.Max)

	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: s.Socket, Net: "unix"})
	require.NoError(t, err, "the kernel queues the connection even though the server cannot accept it")
	defer conn.Close()
	const window = 500 * time.Millisecond
	before := s.Stat(server)
	time.Sleep(window) // the measurement: CPU used while accept keeps failing
	after := s.Stat(server)
	ticks := (after.Utime + after.Stime) - (before.Utime + before.Stime)
	t.Logf("the server used %d clock ticks of CPU in %v of failing accepts", ticks, window)
	require.Less(t, ticks, uint64(10), "a server that retries at once burns a whole CPU (about 50 ticks)")

	limit.Cur = normal
	require.NoError(t, unix.Prlimit(server, unix.RLIMIT_NOFILE, &limit, nil))
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = conn.Write([]byte("again\n"))
	require.NoError(t, err)
	require.NoError(t, conn.CloseWrite())
	got, err := io.ReadAll(conn)
	require.NoError(t, err)
	require.Equal(t, "again\n", string(got), "the queued connection is served once descriptors are available")
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
	require.NoError(t, os.Link(daemontest.Binary, copied))
	cmd := s.Command(s.Flags()...)
	cmd.Path, cmd.Args[0] = copied, copied
	s.StartFrom(cmd)
	require.NoError(t, os.Remove(copied))
	t.Logf("rm %s", copied)
	s.RequireEcho()
}

// Test that the server does not hold a descriptor that the shell left open
// to the launcher without close-on-exec (recommendation 2).
func TestServerHoldsNoInheritedDescriptor(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	cmd := s.Command(s.Flags()...)
	leaked := s.LeakDescriptor(cmd)
	t.Logf("the launcher inherits %s as descriptor %d", leaked, daemontest.LeakedFd)
	server, _ := s.StartFrom(cmd)
	fds, err := proc.Fds(server)
	require.NoError(t, err)
	for _, fd := range proc.SortedFds(fds) {
		t.Logf("/proc/%d/fd/%d -> %s", server, fd, fds[fd])
		require.NotEqual(t, leaked, fds[fd], "descriptor %d of the server is the file the shell left open", fd)
	}
}

// Test that the server, though started from a shell in a terminal, has no
// controlling terminal and runs in a session other than the shell's
// (recommendation 3).
func TestServerHasNoControllingTerminal(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	term := s.OpenTerminal()
	shell := term.Shell(s, s.Flags()...)
	server := s.ServerPid()
	st := s.Stat(server)
	require.Equal(t, 0, st.TtyNr, "tty_nr: the server has no controlling terminal")
	require.NotEqual(t, shell, st.Session, "the server is in a session other than the shell's")
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
	require.True(t, daemontest.Alive(server), "the server outlives the controlling process")
	require.NoError(t, term.Master.Close())
	t.Logf("closed %s's master side: the terminal hangs up", term.Name)
	s.RequireEcho()
	require.True(t, daemontest.Alive(server), "the server outlives the hangup")
}

// Test that the server works in "/" (recommendation 4).
func TestServerWorkingDirectoryIsRoot(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	cmd := s.Command(s.Flags()...)
	cmd.Dir = s.Dir
	server, _ := s.StartFrom(cmd)
	cwd, err := proc.Cwd(server)
	require.NoError(t, err)
	t.Logf("/proc/%d/cwd -> %s", server, cwd)
	require.Equal(t, "/", cwd)
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
			require.ErrorIs(t, err, fs.ErrNotExist, "/%s exists before the test", arg)
		}
	}
	t.Cleanup(func() { // a server that fails this test leaves its files in /
		for _, name := range names {
			os.Remove(filepath.Join("/", name))
		}
	})
	cmd := s.Command(rel...)
	cmd.Dir = s.Dir
	s.StartFrom(cmd)
	s.RequireEcho()
	for _, name := range names {
		_, err := os.Lstat(filepath.Join("/", name))
		require.ErrorIs(t, err, fs.ErrNotExist, "the server created %s in / instead of in %s", name, s.Dir)
	}
}

// Test that the server is not a session leader and leads a process group
// of its own (recommendation 5).
func TestServerLeadsGroupNotSession(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	st := s.Stat(server)
	require.NotEqual(t, server, st.Session, "the server leads its session, so opening a terminal could make it the controlling one")
	require.Equal(t, server, st.Pgrp, "the server leads a process group of its own")
}

// Test that signalling the server's session as a process group, as
// "kill -- -SID" does, does not reach the server (recommendation 5).
func TestKillingSessionGroupSparesServer(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	sid := s.Stat(server).Session
	own, err := unix.Getsid(0)
	require.NoError(t, err)
	require.NotEqual(t, own, sid, "the server is in the test's own session: not signalling it")
	t.Logf("kill -TERM -- -%d", sid)
	if err := unix.Kill(-sid, unix.SIGTERM); err != nil {
		t.Logf("kill: %v (no process is left in group %d)", err, sid)
	}
	s.RequireEcho()
	require.True(t, daemontest.Alive(server))
}

// Test that the server's standard input, output and error are /dev/null
// (recommendation 6).
func TestStandardFilesAreDevNull(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	fds, err := proc.Fds(server)
	require.NoError(t, err)
	for fd := 0; fd <= 2; fd++ {
		t.Logf("/proc/%d/fd/%d -> %s", server, fd, fds[fd])
		if fd == 2 && fds[fd] == s.Log {
			continue // from step 11 the server's errors go to its -log file
		}
		require.Equal(t, "/dev/null", fds[fd], "descriptor %d", fd)
	}
}

// Test that a caller reading the launcher's output, as out=$(echod) does,
// reaches the end of it once the launcher exits: the server does not hold
// the pipe (recommendation 6).
func TestLauncherOutputEndsWithLauncher(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	cmd := s.Command(s.Flags()...)
	cmd.Stdout, cmd.Stderr = w, w
	launch := s.Run(cmd)
	w.Close()
	require.Equal(t, 0, launch.Code)

	eof := make(chan []byte, 1)
	go func() {
		out, _ := io.ReadAll(r)
		eof <- out
	}()
	select {
	case out := <-eof:
		t.Logf("the launcher's output, to end-of-file: %q", out)
	case <-time.After(daemontest.Settle):
		t.Fatalf("no end-of-file on the launcher's output %v after it exited: another process holds the pipe", daemontest.Settle)
	}
}

// Test that the server itself holds a lock on its pid file: /proc/locks
// names the server's pid on the file's inode (recommendation 7).
func TestServerLocksPidFile(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	var st unix.Stat_t
	require.NoError(t, unix.Stat(s.PidFile, &st))
	locks, err := proc.Locks()
	require.NoError(t, err)
	var holders []int
	for _, l := range locks {
		if l.Inode == st.Ino && l.Major == unix.Major(st.Dev) && l.Minor == unix.Minor(st.Dev) && l.Access == "WRITE" {
			t.Logf("/proc/locks: %s %s pid %d on inode %d", l.Kind, l.Access, l.Pid, l.Inode)
			holders = append(holders, l.Pid)
		}
	}
	require.Equal(t, []int{server}, holders, "one write lock on the pid file, held by the server")
}

// Test that a second copy started with the same pid file exits non-zero
// with a message, and that the first goes on serving with the same pid and
// socket (recommendation 7).
func TestSecondCopyIsRefused(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	first, _ := s.Start()
	second := s.Run(s.Command(s.Flags()...))
	require.NotEqual(t, 0, second.Code, "the second copy's exit status")
	requireOneLine(t, second.Stderr)
	require.Contains(t, second.Stderr, strconv.Itoa(first), "the message names the pid that holds the lock")
	require.Equal(t, first, s.ServerPid(), "the first server still listens on the socket")
	s.RequireEcho()
}

// Test that twenty copies started at once leave one server: the others
// exit non-zero with a message (recommendation 7).
func TestConcurrentStartsLeaveOneServer(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	const copies = 20
	results := make(chan daemontest.Result, copies)
	errs := make(chan error, copies)
	for range copies {
		go func() {
			r, err := s.Launch(s.Command(s.Flags()...))
			results <- r
			errs <- err
		}()
	}
	started := 0
	for range copies {
		r := <-results
		require.NoError(t, <-errs)
		if r.Code == 0 {
			started++
		} else {
			requireOneLine(t, r.Stderr)
		}
	}
	require.Equal(t, 1, started, "launchers that report success")
	var daemons []int
	s.Eventually(func() bool {
		daemons = s.Daemons()
		return len(daemons) == 1
	}, "one server runs, once the losers have exited")
	require.Equal(t, daemons[0], s.ServerPid())
	s.RequireEcho()
}

// Test that a symbolic link, a directory, a FIFO or a device at the pid
// file's path is refused, and left as it was (recommendation 7).
func TestPidFileMustBeRegularFile(t *testing.T) {
	t.Parallel()
	requireRefusesNonRegularFile(t, "pidfile", func(s *daemontest.Sandbox) string { return s.PidFile })
}

// requireRefusesNonRegularFile requires that the program refuses to start,
// with one line, when the file its -flag names is a symbolic link, a
// directory, a FIFO or a device (/dev/null), and that it leaves the file
// as it was. pathOf gives the flag's path in a sandbox.
func requireRefusesNonRegularFile(t *testing.T, flag string, pathOf func(*daemontest.Sandbox) string) {
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
			require.NoError(t, create(path, s.Dir))
			args := s.Flags()
			if name == "device" {
				args = append(args, "-"+flag, "/dev/null")
			}
			before := snapshot(t, path)
			devNull := snapshot(t, "/dev/null")
			r := s.Run(s.Command(args...))
			require.NotEqual(t, 0, r.Code)
			requireOneLine(t, r.Stderr)
			require.Equal(t, before, snapshot(t, path), "the %s is untouched", name)
			require.Equal(t, devNull, snapshot(t, "/dev/null"))
			s.Eventually(func() bool { return len(s.Daemons()) == 0 }, "no server runs")
		})
	}
}

// snapshot describes the file at path, and the file a symbolic link there
// leads to: type, mode, owner and, for a regular file, its contents.
func snapshot(t *testing.T, path string) string {
	t.Helper()
	link, err := os.Lstat(path)
	require.NoError(t, err)
	target, err := os.Stat(path)
	require.NoError(t, err)
	desc := describe(link) + " -> " + describe(target)
	if target.Mode().IsRegular() {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		desc += fmt.Sprintf(" %q", b)
	}
	return desc
}

// describe gives a file's type, mode and owner.
func describe(fi fs.FileInfo) string {
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%v uid %d gid %d", fi.Mode(), st.Uid, st.Gid)
}

// Test that the pid file holds the server's pid and a newline
// (recommendation 8).
func TestPidFileHoldsServerPid(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	b, err := os.ReadFile(s.PidFile)
	require.NoError(t, err)
	t.Logf("cat %s: %q", s.PidFile, b)
	require.Equal(t, strconv.Itoa(server)+"\n", string(b))
}

// Test that kill $(cat PIDFILE) stops the server (recommendation 8).
func TestKillByPidFileStopsServer(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := s.Start()
	cmd := exec.Command("/bin/sh", "-c", `kill $(cat "$0")`, s.PidFile)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "kill $(cat %s): %s", s.PidFile, out)
	require.True(t, daemontest.WaitGone(server), "the server is gone")
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
	out, err := exec.Command(ssd, "--stop", "--pidfile", s.PidFile, "--retry", "5").CombinedOutput()
	t.Logf("start-stop-daemon --stop --pidfile %s: %s", s.PidFile, out)
	require.NoError(t, err)
	require.True(t, daemontest.WaitGone(server), "the server is gone")
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
	require.True(t, daemontest.WaitGone(first))
	second, _ := s.Start()
	require.NotEqual(t, first, second)
	b, err := os.ReadFile(s.PidFile)
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(second)+"\n", string(b))
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
			require.NoError(t, os.WriteFile(s.PidFile, []byte(stale+"\n"), 0o644))
			server, _ := s.Start()
			b, err := os.ReadFile(s.PidFile)
			require.NoError(t, err)
			require.Equal(t, strconv.Itoa(server)+"\n", string(b))
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
	status, err := proc.Status(server)
	require.NoError(t, err)
	t.Logf("/proc/%d/status: Umask: %s", server, status["Umask"])
	require.Equal(t, "0027", status["Umask"])
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
		require.NoError(t, err)
		t.Logf("%v %s", fi.Mode(), path)
		require.Zero(t, fi.Mode().Perm()&0o027, "%s: mode %v", path, fi.Mode())
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
	require.NoError(t, os.Chmod(s.Dir, 0o711), "let other users reach the socket's directory")
	startUnderUmask000(s)
	err := s.ConnectAs(daemontest.Nobody, s.Socket)
	require.Error(t, err, "user nobody connected to the server")
	require.Contains(t, err.Error(), "permission denied")
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
		got, err := daemontest.Echo(s.Socket, msg)
		if err != nil || !bytes.Equal(got, msg) {
			b.Fatalf("echo: %q, %v", got, err)
		}
	}
}
