// The tests check, one test a property, what this step and every step
// before it make true of the server, and the echo service and command line
// that all steps share. They treat the program as a black box: they build
// this directory, start it as a service manager or a shell would, and look
// at /proc.
package main_test

import (
	"bufio"
	"bytes"
	"context"
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
	"sync"
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
)

func TestMain(m *testing.M) { os.Exit(daemontest.RunTests(m)) }

// see says where a failed check is explained: the README of step n, the
// step that brings the property in. In a lab, README.md states each test's
// requirement.
func see(n int) string {
	return fmt.Sprintf("see step %02d's README.md, \"What the test checks\" (in a lab: README.md, \"What the tests require\")", n)
}

// Test that the echo returns every byte sent, of any value and in any
// amount, and that the server closes once the client has closed its
// writing side (a half-close).
func TestEchoIsBinarySafeOfAnySize(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	start(t, s)
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
	server, _ := start(t, s)
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
	start(t, s)
	s.RequireEcho()
}

// Test that anything but a socket at the socket's path (a regular file, a
// directory, a FIFO, a symbolic link) is refused with one line on the
// program's standard error, and left as it was.
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
			require.NotEqualf(t, 0, r.Code, "with a %s at the socket's path %s, the program must exit non-zero; it exited 0 (stdout %q); %s", name, s.Socket, r.Stdout, see(1))
			requireOneLine(t, r.Stderr, "the refusal of a "+name+" at the socket's path")
			after, err := os.Lstat(s.Socket)
			require.NoErrorf(t, err, "the %s at %s must be left where it was; %s", name, s.Socket, see(1))
			require.Equalf(t, before.Mode(), after.Mode(), "the %s at %s must be left as it was: its mode was %v; %s", name, s.Socket, before.Mode(), see(1))
			require.Equalf(t, before.ModTime(), after.ModTime(), "the %s at %s must be left as it was: it was modified; %s", name, s.Socket, see(1))
		})
	}
}

// requireOneLine requires msg, the program's standard error for what,
// to be one non-empty line.
func requireOneLine(t *testing.T, msg, what string) {
	t.Helper()
	require.NotEmptyf(t, strings.TrimSpace(msg), "%s: the program must say why on its standard error, in one line; it wrote nothing there; %s", what, see(1))
	require.Equalf(t, 1, strings.Count(msg, "\n"), "%s: the program must say why in one line on its standard error, not a stack trace or the usage; it wrote %q; %s", what, msg, see(1))
}

// Test that a bad command line gets a clear error and a non-zero exit,
// creates nothing, and leaves a running server alone.
func TestRejectsBadCommandLines(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := start(t, s)

	for _, bad := range [][]string{{"-no-such-flag"}, {"stray-argument"}} {
		r := s.Run(s.Command(append(s.Flags(), bad...)...))
		require.Equalf(t, 2, r.Code, "%v: the program must exit with status 2, as for a usage error; it exited %d; %s", bad, r.Code, see(1))
		require.Containsf(t, r.Stderr, "Usage", "%v: the program must show the usage on its standard error; it wrote %q; %s", bad, r.Stderr, see(1))
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
		require.NotEqualf(t, 0, r.Code, "-socket %s (%s): the program must exit non-zero; it exited 0; %s", path, name, see(1))
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
	start(t, s)
	s.RequireEcho()
}

// Test that the server does not spin when accept fails: under a descriptor
// limit too low for one more connection it backs off, and it serves again
// once the limit is raised.
func TestAcceptFailureDoesNotSpin(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := startWithStderr(t, s) // past its start: the limit comes next
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

// Test that accept failures are logged at most once a second (recommendation
// 11): under a descriptor limit too low for one more connection, a queued
// client makes accept fail again and again, and the log must not flood.
// Then standard error, a file here, is made to refuse every write too
// (RLIMIT_FSIZE): the messages of the next while are lost, and the stop
// message, once the file takes writes again, must say how many, never lose
// them silently.
func TestAcceptFailuresAreLoggedOnceASecond(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, stderr := startWithStderr(t, s)
	// The log: standard error from step 13, the -log file before it.
	logged := func() string { return readFile(s.Log) + stderr.String() }
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
	out := logged()
	lines := strings.Count(out, "accept:")
	t.Logf("%d accept messages in %v", lines, window)
	require.NotZerof(t, lines, "the server %d must log that accept fails (on standard error); it logged %q; %s", server, out, see(11))
	require.LessOrEqualf(t, lines, 3, "in %v of failing accepts, the server %d must log at most one message a second (3); it logged %d on standard error; %s", window, server, lines, see(11))

	// A write beyond RLIMIT_FSIZE fails with EFBIG (the Go runtime
	// ignores the SIGXFSZ that comes with it): the file takes no more.
	var fsize unix.Rlimit
	require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_FSIZE, nil, &fsize), "set-up: read the server %d's file size limit", server)
	full := fsize
	full.Cur = uint64(len(stderr.String()))
	if logFile := readFile(s.Log); logFile != "" { // the -log file, before step 13
		full.Cur = uint64(len(logFile))
	}
	require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_FSIZE, &full, nil), "set-up: limit the server %d's files to its log's size, %d bytes", server, full.Cur)
	defer unix.Prlimit(server, unix.RLIMIT_FSIZE, &fsize, nil)
	time.Sleep(window) // the loss: one message at least is due in this while
	require.NoErrorf(t, unix.Prlimit(server, unix.RLIMIT_FSIZE, &fsize, nil), "lift the server %d's file size limit", server)
	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(10))
	out = logged()
	require.Containsf(t, out, "earlier messages lost", "for %v standard error (a file under RLIMIT_FSIZE) took none of the server %d's accept messages; its next message must say how many were lost (\"(N earlier messages lost)\"); it logged %q; %s", window, server, out, see(11))
}

// Test that a worker that cannot start for want of descriptors is logged
// with that cause (recommendation 11): at descriptor limits just above what
// the server holds, clients arriving together must never make it log "bad
// file descriptor", which names no cause an operator can act on.
func TestWorkerStartFailureNamesCause(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, stderr := startWithStderr(t, s)
	// The log: standard error from step 13, the -log file before it.
	logged := func() string { return readFile(s.Log) + stderr.String() }
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
	out := logged()
	require.NotContainsf(t, out, "bad file descriptor", "at descriptor limits just above the %d the server %d holds, a worker that cannot start must be logged with its cause (out of descriptors), not %q; standard error holds %q; %s", highest, server, "bad file descriptor", out, see(11))
}

// Test that workers still start after the program's file is deleted, as
// a package upgrade replaces it while the service runs: the
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
	startFrom(t, s, cmd)
	require.NoErrorf(t, os.Remove(copied), "set-up: remove %s", copied)
	t.Logf("rm %s", copied)
	s.RequireEcho()
}

// Test that a second copy started on the same socket exits non-zero with
// a message, and that the first goes on serving with the same pid and
// socket. Step 07 brought this with a lock on the pid file; from step 13 a
// copy started by hand finds that the socket still accepts connections,
// and a service manager runs one copy of a service (recommendation 7).
func TestSecondCopyIsRefused(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	first, _ := start(t, s)
	second := s.Run(s.Command(s.Flags()...))
	require.NotEqualf(t, 0, second.Code, "a second copy with the same -socket %s must exit non-zero while the server %d runs; it exited 0 (stdout %q); %s", s.Socket, first, second.Stdout, see(7))
	requireOneLine(t, second.Stderr, "the second copy's refusal")
	require.Equalf(t, first, s.ServerPid(), "the first server %d must still be the one listening on %s; %s", first, s.Socket, see(7))
	s.RequireEcho()
}

// Test that a socket someone still accepts connections on is never
// removed (recommendation 7): a second copy with another -pidfile (from
// step 13, none) but the same -socket, and a start where another program
// listens on -socket, both
// exit non-zero with one line, and the socket keeps its inode; the first
// server goes on serving.
func TestKeepsSocketSomeoneServes(t *testing.T) {
	t.Parallel()
	t.Run("another copy with another pid file", func(t *testing.T) {
		t.Parallel()
		s := daemontest.New(t)
		first, _ := start(t, s)
		inode := inodeOf(t, s.Socket)
		other := daemontest.New(t)
		r := other.Run(other.Command(append(other.Flags(), "-socket", s.Socket)...))
		require.NotEqualf(t, 0, r.Code, "a copy in another directory %s, with the socket %s of the running server %d, must be refused: it exited 0 (stdout %q); %s", other.Dir, s.Socket, first, r.Stdout, see(7))
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

// Test that a socket on a path that another user controls is refused
// (recommendation 7): the server must not remove a socket, or bind one,
// where another user's symbolic link or directory sends it. From step 13
// this holds for the socket the server binds itself; one passed by the
// service manager is the manager's. Needs root.
func TestSocketPathMustBeTrusted(t *testing.T) {
	t.Parallel()
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
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := daemontest.New(t)
			given, target, err := plant(s.Dir)
			require.NoErrorf(t, err, "set-up: %s for -socket", name)
			require.NoErrorf(t, makeStaleSocket(target), "set-up: root's stale socket %s", target)
			before := victimState(t, target)
			r := s.Run(s.Command(append(s.Flags(), "-socket", given)...))
			require.NotEqualf(t, 0, r.Code, "-socket %s, through a %s, must be refused: the program must exit non-zero; it exited 0 (stdout %q); %s", given, name, r.Stdout, see(7))
			requireOneLine(t, r.Stderr, "the refusal of a "+name+" at -socket")
			require.Containsf(t, r.Stderr, given, "the refusal must name the path %s; it is %q; %s", given, r.Stderr, see(7))
			require.Equalf(t, before, victimState(t, target), "root's socket %s, reached through -socket %s, must be left as it was; %s", target, given, see(7))
			var left []int
			s.Eventually(func() bool { left = s.Daemons(); return len(left) == 0 }, "with a %s at -socket, no server may run; running: %v", name, &left)
		})
	}
}

// makeStaleSocket makes root's stale socket at path: bound, then closed
// without listening.
func makeStaleSocket(path string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Bind(fd, &unix.SockaddrUnix{Name: path})
}

// victimState describes the file at path: its inode, type, mode and owner.
func victimState(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Lstat(path)
	require.NoErrorf(t, err, "%s must still be there", path)
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("inode %d %v uid %d gid %d", st.Ino, fi.Mode(), st.Uid, st.Gid)
}

// startUnderUmask000 starts the server from a shell whose umask is 000, and
// returns the server's pid.
func startUnderUmask000(t *testing.T, s *daemontest.Sandbox) int {
	cmd := exec.Command("/bin/sh", append([]string{"-c", `umask 000; exec "$@"`, "sh", daemontest.Binary}, s.Flags()...)...)
	cmd.Env = s.Command().Env
	server, _ := startFrom(t, s, cmd)
	return server
}

// Test that the server runs with umask 027, even when started under umask
// 000 (recommendation 9).
func TestServerUmaskIs027(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server := startUnderUmask000(t, s)
	s.RequireHolds(property.Umask, server)
}

// Test that no file the server creates under umask 000 is writable by
// its group or others, or open to others at all (recommendation 9).
func TestCreatedFilesAreNotWorldWritable(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	startUnderUmask000(t, s)
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
	startUnderUmask000(t, s)
	err := s.ConnectAs(daemontest.Nobody, s.Socket)
	require.Errorf(t, err, "user nobody must not be able to connect to %s, a server started under umask 000; it connected; %s", s.Socket, see(9))
	require.Containsf(t, err.Error(), "permission denied", "user nobody's connection to %s must fail for want of permission; it failed with %q; %s", s.Socket, err, see(9))
}

// Test that the server ignores SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU and
// SIGPIPE, and keeps serving after each (recommendation 10).
func TestServerIgnoresExtraneousSignals(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := start(t, s)
	s.RequireHolds(property.Signals, server)
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGPIPE} {
		s.Signal(server, sig)
		s.RequireEcho()
		st := s.Stat(server)
		require.NotEqualf(t, byte('T'), st.State, "after %s the server %d must serve on; it is stopped (state T in /proc/%d/stat); %s", unix.SignalName(sig), server, server, see(10))
	}
}

// Test that on SIGTERM the server exits with status 0, and removes its
// socket and, up to step 12, its pid file (recommendation 10).
func TestSigtermStopsServerCleanly(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := start(t, s)
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
func TestShutdownRemovesOnlyItsOwnSocket(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := start(t, s)
	require.NoErrorf(t, os.Remove(s.Socket), "set-up: delete the server's socket %s", s.Socket)
	ln, err := net.Listen("unix", s.Socket)
	require.NoErrorf(t, err, "set-up: listen on %s in the server's place", s.Socket)
	defer ln.Close()
	inode := inodeOf(t, s.Socket)
	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(10))
	fi, err := os.Lstat(s.Socket)
	require.NoErrorf(t, err, "on SIGTERM the server %d must leave %s alone: that socket (inode %d) is another program's, which listens there now, and the server removed it; remove the socket only while the path still names the one the server bound (the same device and inode); %s", server, s.Socket, inode, see(10))
	require.Equalf(t, inode, fi.Sys().(*syscall.Stat_t).Ino, "on SIGTERM the server %d must leave %s alone: that socket (inode %d) is another program's; %s", server, s.Socket, inode, see(10))
}

// Test that 50 workers that exit together leave no zombie child of the
// server (recommendation 12). Signals do not queue (signal(7)): however
// many children exit while the server is stopped, one SIGCHLD is pending
// when it goes on, and only a reaper that waits until no exited child is
// left reaps them all. So the test holds 50 connections, each served by a
// worker, stops the server, closes them all, waits until every worker has
// exited, and lets the server go on.
func TestNoZombiesAfterManyConnections(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := start(t, s)
	const n = 20
	var conns []net.Conn
	for range n {
		conns = append(conns, s.HoldConnection()) // a worker serves each
	}
	s.Signal(server, syscall.SIGSTOP)
	defer unix.Kill(server, unix.SIGCONT) // however the test ends
	s.Eventually(func() bool { return s.Stat(server).State == 'T' }, "set-up: the server %d must stop on SIGSTOP, which no process can catch or ignore", server)
	for _, conn := range conns {
		conn.Close()
	}
	var kids []proc.Stat
	s.Eventually(func() bool {
		kids, _ = proc.Children(server)
		return !slices.ContainsFunc(kids, func(k proc.Stat) bool { return k.State != 'Z' })
	}, "each worker of the stopped server %d must exit once its client has closed the connection; its children: %v; %s", server, &kids, see(12))
	t.Logf("held %d connections, each served by a worker, and closed them while the server %d was stopped: %d workers exited, with one SIGCHLD for the server", n, server, len(kids))
	s.Signal(server, syscall.SIGCONT)
	s.EventuallyHolds(property.NoZombies, server)
}

// Test that on SIGTERM the server ends its workers and reaps them before it
// exits with status 0 (recommendation 12).
func TestSigtermEndsAndReapsWorkers(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := start(t, s)
	s.HoldConnection()
	kids, err := proc.Children(server)
	require.NoErrorf(t, err, "read the children of the server %d from /proc", server)
	var workers []int
	for _, k := range kids {
		if k.State != 'Z' {
			workers = append(workers, k.Pid)
		}
	}
	require.NotEmptyf(t, workers, "the server %d must have a live worker for the open connection; its children: %v; %s", server, kids, see(1))
	t.Logf("workers running: %v", workers)
	// Another worker ends while that one runs: the server reaps it, and
	// its reaping must not then wait for the live one, or the server
	// neither serves nor handles the SIGTERM below.
	_, err = launch.Echo(s.Socket, []byte("while another worker runs\n"))
	require.NoErrorf(t, err, "with a worker still serving a held connection, the server %d must echo on another connection; it does not answer: its reaping must not wait for a live worker (wait4 with WNOHANG); %s", server, see(12))
	s.EventuallyHolds(property.NoZombies, server)

	s.Signal(server, syscall.SIGTERM)
	exited := launch.WaitUntil(context.Background(), launch.Settle, func() bool { return !launch.Alive(server) })
	require.Truef(t, exited, "on SIGTERM the server %d must exit within %v; it still runs: its reaping must not wait for a live worker (wait4 with WNOHANG); %s", server, launch.Settle, see(12))
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(12))
	requireReaped(t, server, workers)
}

// requireReaped requires each of the workers of server, which has exited,
// to be gone from /proc: ended and reaped by the server. A worker the
// server did not reap is still there, as a zombie of the test process
// (the subreaper that adopted it).
func requireReaped(t *testing.T, server int, workers []int) {
	t.Helper()
	for _, w := range workers {
		st, err := proc.ReadStat(w)
		if err == nil {
			require.Failf(t, "a worker outlives the server", "when the server %d has exited, its worker %d must be gone, ended and reaped by the server; /proc/%d/stat shows it in state %c with ppid %d; %s", server, w, w, st.State, st.PPid, see(12))
		}
	}
}

// shutdownLimit is how long a server may take to exit on SIGTERM when a
// worker does not end on SIGTERM: a grace period for the workers, then
// SIGKILL, is a matter of a second or two.
const shutdownLimit = 5 * time.Second

// Test that on SIGTERM the server exits within a few seconds (5 s), with
// every worker gone and reaped, even when a worker does not end on SIGTERM
// (here a worker stopped with SIGSTOP): the server must not wait for such a
// worker for ever, but kill it (SIGKILL) after a grace period and reap it
// (recommendation 12).
func TestShutdownEndsWorkerThatIgnoresSigterm(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, _ := start(t, s)
	s.HoldConnection()
	s.HoldConnection()
	// Wait for the workers of the two held connections alone: the worker of
	// the connection that found the server ends by itself.
	var workers []int
	s.Eventually(func() bool { workers = liveWorkers(t, server); return len(workers) == 2 },
		"the server %d must have a live worker for each of the 2 open connections; its live children: %v; %s", server, &workers, see(1))
	stubborn := workers[0]
	// A stopped process does not act on SIGTERM (it stays pending), but
	// SIGKILL ends it.
	s.Signal(stubborn, syscall.SIGSTOP)
	s.Eventually(func() bool {
		st, err := proc.ReadStat(stubborn)
		return err == nil && st.State == 'T'
	}, "set-up: worker %d stops on SIGSTOP", stubborn)
	t.Logf("workers running: %v; %d is stopped", workers, stubborn)

	s.Signal(server, syscall.SIGTERM)
	deadline := time.Now().Add(shutdownLimit)
	for launch.Alive(server) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if launch.Alive(server) {
		st, _ := proc.ReadStat(stubborn)
		require.Failf(t, "the server hangs in its shutdown", "on SIGTERM the server %d must exit within %v even though its worker %d does not end on SIGTERM; it still runs, and the worker is in state %c: a shutdown that waits for each worker without a time limit hangs for ever; %s",
			server, shutdownLimit, stubborn, st.State, see(12))
	}
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(12))
	requireReaped(t, server, workers)
}

// BenchmarkConnection measures one connection from the client's side:
// connect, send a line, read the echo, close. Each connection starts a
// worker process, and the time goes mostly to that: fork, exec and the
// start of the Go runtime.
func BenchmarkConnection(b *testing.B) {
	s := daemontest.New(b)
	start(b, s)
	msg := []byte("hello\n")
	for b.Loop() {
		got, err := launch.Echo(s.Socket, msg)
		if err != nil || !bytes.Equal(got, msg) {
			b.Fatalf("echo: %q, %v", got, err)
		}
	}
}

// liveWorkers returns the children of server that still run.
func liveWorkers(t *testing.T, server int) []int {
	t.Helper()
	kids, err := proc.Children(server)
	require.NoErrorf(t, err, "read the children of the server %d from /proc", server)
	var live []int
	for _, k := range kids {
		if k.State != 'Z' {
			live = append(live, k.Pid)
		}
	}
	return live
}

// Test that the server runs at most -maxworkers workers at once: with the
// cap at 2 and 5 clients connected, /proc shows 2 live workers, and the
// clients beyond the cap are served, in turn, once the first ones close
// (recommendation 12, with the cap that keeps it from running out of
// processes).
func TestWorkerCapHoldsClientsInQueue(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "maxworkers", 12)
	s := daemontest.New(t)
	const max, clients = 2, 5
	server, _ := startFrom(t, s, s.Command(append(s.Flags(), "-maxworkers", strconv.Itoa(max))...))
	var held []net.Conn
	for range max {
		held = append(held, s.HoldConnection())
	}
	var waiting []net.Conn
	for range clients - max {
		conn, err := net.Dial("unix", s.Socket)
		require.NoErrorf(t, err, "a client beyond the cap must still connect (the listen queue holds it); %s", see(12))
		defer conn.Close()
		_, err = conn.Write([]byte("queued\n"))
		require.NoError(t, err, "write to a queued connection")
		waiting = append(waiting, conn)
	}
	time.Sleep(100 * time.Millisecond) // time in which an uncapped server would start more workers
	live := liveWorkers(t, server)
	require.Lenf(t, live, max, "with -maxworkers %d and %d clients connected, the server %d must run exactly %d workers; its live children are %v; %s", max, clients, server, max, live, see(12))
	for _, conn := range held {
		conn.Close()
	}
	for i, conn := range waiting {
		require.NoError(t, conn.(*net.UnixConn).CloseWrite(), "close the writing side")
		require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
		got, err := io.ReadAll(conn)
		require.NoErrorf(t, err, "queued client %d of %d must be served once workers exit; %s", i+1, len(waiting), see(12))
		require.Equalf(t, "queued\n", string(got), "queued client %d of %d must get its echo once workers exit; %s", i+1, len(waiting), see(12))
	}
}

// Test that the server survives its user running out of processes
// (RLIMIT_NPROC), as a loaded machine or a hostile client can make it: run
// as nobody under a limit of 40 processes and threads, with 40 clients
// connected, it must stay alive, log why a worker could not start, and
// serve again once the clients have gone (recommendation 12). Needs root
// and prlimit (util-linux).
func TestSurvivesProcessLimit(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "maxworkers", 12)
	s := daemontest.New(t)
	cmd := s.Command(append(s.Flags(), "-maxworkers", "500")...)
	s.AsUserUnderProcessLimit(cmd, 65534, 40) // nobody
	_, output := runProgram(t, s, cmd)
	server := waitServer(t, s, "a server must answer on %s within %v of its start; none does (output: %q); %s", s.Socket, launch.LaunchTimeout, output, see(13))
	// The log: standard error from step 13, the -log file before it.
	logged := func() []byte { b, _ := os.ReadFile(s.Log); return append(b, output.String()...) }
	var held []net.Conn
	for range 40 {
		conn, err := net.Dial("unix", s.Socket)
		require.NoErrorf(t, err, "client %d must connect: the listen queue holds it even when no worker starts", len(held)+1)
		held = append(held, conn)
	}
	s.Eventually(func() bool {
		b := logged()
		return bytes.Contains(b, []byte("start worker: resource temporarily unavailable")) || bytes.Contains(b, []byte("exited with status 2"))
	}, "with 40 clients and a limit of 40 processes, the server %d must log that a worker could not start; its log holds %q; %s", server, logged(), see(12))
	require.Truef(t, launch.Alive(server), "the server %d must survive running out of processes; it is gone; its log says why: %q; %s", server, logged(), see(12))
	for _, conn := range held {
		conn.Close()
	}
	s.Eventually(func() bool { return len(liveWorkers(t, server)) == 0 }, "the workers of the 40 clients must exit once they have gone")
	s.RequireEcho()
	require.Truef(t, launch.Alive(server), "the server %d must still run after serving again; %s", server, see(12))
	// A worker that did not start has no pid: one counted as pid 0 would
	// have shutdown signal the server's own process group.
	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "after workers failed to start, the server %d must still stop cleanly on SIGTERM, with status 0; count only the workers that started (a pid of 0 is the caller's process group to kill(2)); %s", server, see(12))
}

// Test that a client going away before it reads its echo is no error: the
// worker's broken pipe must not reach the log, from step 13 standard
// error, or any client could fill it (recommendation 12).
func TestClientGoingAwayIsNotLogged(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, stderr := startWithStderr(t, s)
	for range 5 {
		conn, err := net.Dial("unix", s.Socket)
		require.NoError(t, err, "connect")
		// Send, then close without reading: the worker's echo meets a
		// closed socket. The deadline ends a write the worker stopped reading.
		require.NoError(t, conn.SetDeadline(time.Now().Add(time.Second)))
		conn.Write(bytes.Repeat([]byte("x"), 64<<10))
		conn.Close()
	}
	s.RequireEcho() // accepted after the five: their workers have started
	s.Eventually(func() bool { return len(liveWorkers(t, server)) == 0 }, "the workers of clients that went away must exit")
	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(10))
	out := stderr.String()
	for _, noise := range []string{"broken pipe", "connection reset"} {
		require.NotContainsf(t, out, noise, "a client going away is no error: the server's standard error must not mention %q; it holds %q; %s", noise, out, see(12))
	}
}

// Test that -maxworkers below 1 is refused with one line that names the
// flag, and a non-zero exit (recommendation 12's cap).
func TestRejectsBadMaxWorkers(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "maxworkers", 12)
	s := daemontest.New(t)
	for _, n := range []string{"0", "-3"} {
		r := s.Run(s.Command(append(s.Flags(), "-maxworkers", n)...))
		require.NotEqualf(t, 0, r.Code, "-maxworkers %s must be refused: the program must exit non-zero; it exited 0; %s", n, see(12))
		requireOneLine(t, r.Stderr, "-maxworkers "+n)
		require.Containsf(t, r.Stderr, "-maxworkers", "-maxworkers %s: the message must name the flag; it is %q; %s", n, r.Stderr, see(12))
	}
}

// start starts the program with the sandbox's flags, as a service manager
// or a shell in the foreground would, and returns the pid of the server
// once it answers on the sandbox's socket, with the pid of the process the
// test started. From step 13 the two are one process, which stays; a
// program that puts its server in the background (steps 01 to 12) returns
// another. So the properties step 13 keeps are checked the same way on
// either.
func start(t testing.TB, s *daemontest.Sandbox) (server, started int) {
	t.Helper()
	return startFrom(t, s, s.Command(s.Flags()...))
}

// startFrom is start with cmd prepared by the caller (from s.Command, with
// the sandbox's flags among its arguments). Unless the caller has set them,
// standard output and error go to a file in the sandbox. The process is
// killed and reaped when the test ends, if it is still there.
func startFrom(t testing.TB, s *daemontest.Sandbox, cmd *exec.Cmd) (server, started int) {
	t.Helper()
	started, output := runProgram(t, s, cmd)
	server = waitServer(t, s, "a server must answer on %s within %v of its start; none does (output: %q); %s", s.Socket, launch.LaunchTimeout, output, see(13))
	return server, started
}

// runProgram starts cmd, with its output in a file in the sandbox unless the
// caller has set it, and arranges that it is killed and reaped when the
// test ends. It returns its pid and a function that reads its output.
func runProgram(t testing.TB, s *daemontest.Sandbox, cmd *exec.Cmd) (int, *outputFile) {
	t.Helper()
	var output outputFile
	if cmd.Stdout == nil && cmd.Stderr == nil {
		f, err := os.CreateTemp(s.Dir, "output")
		require.NoErrorf(t, err, "set-up: a file for the program's output")
		defer f.Close()
		cmd.Stdout, cmd.Stderr, output = f, f, outputFile(f.Name())
	}
	require.NoErrorf(t, reaper.Start(cmd), "start %s", cmd.Path)
	t.Cleanup(func() {
		cmd.Process.Kill()
		reaper.Wait(cmd)
	})
	t.Logf("started %s (pid %d)", strings.Join(cmd.Args, " "), cmd.Process.Pid)
	return cmd.Process.Pid, &output
}

// waitServer waits up to LaunchTimeout for a live process to listen on
// the sandbox's socket, and returns its pid; it fails the test with msg
// otherwise.
func waitServer(t testing.TB, s *daemontest.Sandbox, msg string, args ...any) (server int) {
	t.Helper()
	require.Eventuallyf(t, func() bool {
		pid, err := peercred.ListenerPid(s.Socket)
		server = pid
		return err == nil && launch.Alive(pid)
	}, launch.LaunchTimeout, 5*time.Millisecond, msg, args...)
	// The test may wait for the server's exit status (WaitExit). A server
	// that put itself in the background is no process the test started,
	// and another test's sweep could reap it first; claim it, as the
	// sandbox's ServerPid does.
	reaper.Claim(server)
	t.Cleanup(func() { reaper.Release(server) })
	return server
}

// outputFile is the path of a file that holds a program's output; as a
// %q argument of a failure message, what the file holds by then.
type outputFile string

func (o outputFile) String() string { return readFile(string(o)) }

// readFile returns what the file at path holds, or "" if there is none.
func readFile(path string) string {
	if path == "" {
		return ""
	}
	b, _ := os.ReadFile(path)
	return string(b)
}

// startWithStderr is start with the program's standard output and error
// in a file of the sandbox, which it returns: from step 13, the log. It
// returns once the server has logged its start, not as soon as its socket
// listens: the callers go on to lower its limits, and a Go server caught
// between listen(2) and the start of its runtime's poller dies of that
// (epoll_create fails with EMFILE under RLIMIT_NOFILE 3).
func startWithStderr(t *testing.T, s *daemontest.Sandbox) (server int, stderr outputFile) {
	t.Helper()
	_, output := runProgram(t, s, s.Command(s.Flags()...))
	server = waitServer(t, s, "a server must answer on %s within %v of its start; none does (output: %q); %s", s.Socket, launch.LaunchTimeout, output, see(13))
	// The start line: on standard error from step 13, in the -log file before.
	s.Eventually(func() bool { return strings.Contains(readFile(s.Log)+output.String(), "started: pid") },
		"the server %d must log its start (\"started: pid ...\") once it listens on %s; it logged %q; %s", server, s.Socket, output, see(11))
	return server, *output
}

// Test that the server stays in the foreground: the process the service
// manager (here the test) starts is the server itself, a child of the
// manager, and it goes on running. A manager follows its service by that
// process; step 01's launcher, which returns while its server runs on
// elsewhere, would leave it following nothing.
func TestServerStaysInForeground(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, started := start(t, s)
	require.Equalf(t, started, server, "the process the manager started (pid %d) must be the server; the server is pid %d instead: the program put itself in the background; %s", started, server, see(13))
	st := s.Stat(server)
	require.Equalf(t, os.Getpid(), st.PPid, "the server %d must stay the child of the manager that started it (pid %d); /proc/%d/stat names parent %d; %s", server, os.Getpid(), server, st.PPid, see(13))
	s.RequireEcho()
	require.Truef(t, launch.Alive(started), "the process the manager started (pid %d) must go on running; it has exited; %s", started, see(13))
}

// priorityLine is a line of the server's standard error: a priority in
// angle brackets, as sd-daemon(3) writes it, then the message.
var priorityLine = regexp.MustCompile(`^<([0-7])>(.+)$`)

// Test that the server logs to standard error, one line per event, each
// line with the "<N>" priority prefix that journald reads (sd-daemon(3)):
// its start, with its pid, and its stop, at info (6); a failed start, at
// err (3). A newline in the socket's path must not start a line of its
// own, which could forge an entry (recommendation 11, as step 13 logs).
func TestLogsToStderrWithPriorities(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	s.Socket = filepath.Join(s.Dir, "x\nFORGED: socket")
	server, stderr := startWithStderr(t, s)
	s.RequireEcho()
	s.Signal(server, syscall.SIGTERM)
	s.WaitExit(server)
	out := stderr.String()
	t.Logf("standard error:\n%s", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.GreaterOrEqualf(t, len(lines), 2, "the server must log its start and its stop on standard error, a line each; it wrote %q; %s", out, see(13))
	for _, line := range lines {
		require.Regexpf(t, priorityLine, line, "every line on standard error must start with a priority such as <6> (a line that does not may be forged by the newline in -socket %q); this one does not: %q; %s", s.Socket, line, see(13))
	}
	require.Regexpf(t, `^<6>.*\b`+strconv.Itoa(server)+`\b`, lines[0], "the first line must be the start, at priority info (<6>), naming the server's pid %d; it is %q; %s", server, lines[0], see(13))
	require.Regexpf(t, `^<6>.*stop`, lines[len(lines)-1], "the last line must be the stop, at priority info (<6>); it is %q; %s", lines[len(lines)-1], see(13))

	other := daemontest.New(t)
	require.NoErrorf(t, os.WriteFile(other.Socket, []byte("keep me"), 0o600), "set-up: a regular file at %s", other.Socket)
	r := other.Run(other.Command(other.Flags()...))
	require.Regexpf(t, `^<3>.*\n$`, r.Stderr, "a start refused (a regular file at the socket's path) must say why in one line at priority err (<3>); it wrote %q; %s", r.Stderr, see(13))
}

// Test that a worker that dies abnormally is logged on standard error at
// priority err, with its pid and its signal (recommendation 12, logged as
// step 13 logs): kill -9 of the workers must bring a line "<3>worker PID:
// killed by signal 9" from the server.
func TestAbnormalWorkerExitIsLoggedToStderr(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, stderr := startWithStderr(t, s)
	s.HoldConnection()
	// Wait for the worker of the held connection alone: the worker of the
	// connection that found the server ends by itself.
	var live []int
	s.Eventually(func() bool { live = liveWorkers(t, server); return len(live) == 1 },
		"the server %d must have one live worker, for the open connection; its live children: %v; %s", server, &live, see(1))
	for _, w := range live {
		s.Signal(w, syscall.SIGKILL)
	}
	killed := regexp.MustCompile(`(?m)^<3>worker (\d+): killed by signal 9\b`)
	var m []string
	s.Eventually(func() bool {
		m = killed.FindStringSubmatch(stderr.String())
		return m != nil
	}, "after kill -9 of the workers %v, the server %d must write a line \"<3>worker PID: killed by signal 9\" on its standard error; it wrote %q; %s", live, server, stderr, see(13))
	pid, _ := strconv.Atoi(m[1])
	require.Containsf(t, live, pid, "the line %q must name one of the killed workers %v; %s", m[0], live, see(12))
}

// notifier stands in for the service manager's notification socket: a
// datagram socket bound in the sandbox, given to the server as
// $NOTIFY_SOCKET.
type notifier struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex
	got  []string // the datagrams received, in order
}

// listenNotify binds the notification socket; collect starts reading it.
func listenNotify(t *testing.T, s *daemontest.Sandbox) *notifier {
	t.Helper()
	path := filepath.Join(s.Dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoErrorf(t, err, "set-up: bind a datagram socket at %s", path)
	t.Cleanup(func() { conn.Close() })
	return &notifier{path: path, conn: conn}
}

// collect reads the datagrams that arrive, until the test ends.
func (n *notifier) collect() {
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := n.conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.got = append(n.got, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
}

// waitFor waits up to Settle for a datagram that holds the line want, and
// fails the test with what otherwise.
func (n *notifier) waitFor(t *testing.T, want, what string) {
	t.Helper()
	var got notifications
	require.Eventuallyf(t, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		got = slices.DeleteFunc(slices.Clone(n.got), func(m string) bool { return m == filler })
		for _, msg := range got {
			if slices.Contains(strings.Split(msg, "\n"), want) {
				return true
			}
		}
		return false
	}, launch.Settle, 5*time.Millisecond, "%s: the server must send %q to $NOTIFY_SOCKET; it sent %v; %s", what, want, &got, see(13))
	t.Logf("$NOTIFY_SOCKET got %v", got)
}

// filler is what the test sends to fill the notification socket's queue.
const filler = "FILLER=1"

// notifications are the datagrams the server sent; as an argument of a
// failure message, those it had sent by then.
type notifications []string

func (n *notifications) String() string { return fmt.Sprintf("%q", []string(*n)) }

// Test that the server sends READY=1 only once it listens: while the
// notification socket's queue is full, the server's READY=1 cannot go out,
// and a server that sent it before listening could not listen meanwhile.
// Once the queue drains, READY=1 arrives and the server echoes.
func TestReadyIsSentOnceListening(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	n := listenNotify(t, s)
	// Fill the queue, so that the next datagram sent there blocks.
	sender, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoErrorf(t, err, "set-up: a datagram socket")
	defer unix.Close(sender)
	queued := 0
	for ; ; queued++ {
		err := unix.Sendto(sender, []byte(filler), 0, &unix.SockaddrUnix{Name: n.path})
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		require.NoErrorf(t, err, "set-up: fill the queue of %s", n.path)
	}
	t.Logf("the queue of %s is full after %d datagrams", n.path, queued)

	cmd := s.Command(s.Flags()...)
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+n.path)
	_, output := runProgram(t, s, cmd)
	waitServer(t, s, "while its READY=1 waits for room in the full queue of $NOTIFY_SOCKET, the server must already listen on %s; nothing answers there within %v: the server says it is ready before it listens (output: %q); %s", s.Socket, launch.LaunchTimeout, output, see(13))
	n.collect()
	n.waitFor(t, "READY=1", "once it listens")
	s.RequireEcho()
}

// activation is a server started the way systemd starts a socket-activated
// service, by systemd-socket-activate: it binds the socket, waits for the
// first connection, then executes the program in its own process with the
// socket as descriptor 3 and LISTEN_PID, LISTEN_FDS (and, with --fdname,
// LISTEN_FDNAMES) set.
type activation struct {
	pid    int       // the process: systemd-socket-activate, then the server
	inode  uint64    // the socket file's inode, as systemd-socket-activate bound it
	notify *notifier // its $NOTIFY_SOCKET
}

// activate starts the program under systemd-socket-activate listening on
// the sandbox's socket (and on listen, before it, if given), with the
// sandbox's flags, and waits until the socket is bound. It skips the test
// when systemd-socket-activate is missing.
func activate(t *testing.T, s *daemontest.Sandbox, listen []string, args ...string) *activation {
	t.Helper()
	ssa, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate is missing: apt-get install systemd")
	}
	n := listenNotify(t, s)
	n.collect()
	// systemd-socket-activate passes on only the variables named with -E:
	// the sandbox's marker too, so that the sandbox finds what it starts.
	marker := launch.MarkerEnv + "=" + s.Dir
	var argv []string
	for _, l := range append(listen, s.Socket) {
		argv = append(argv, "-l", l)
	}
	argv = append(argv, "-E", "NOTIFY_SOCKET="+n.path, "-E", marker)
	argv = append(argv, args...)
	argv = append(argv, daemontest.Binary)
	argv = append(argv, s.Flags()...)
	cmd := exec.Command(ssa, argv...)
	cmd.Env = s.Command().Env
	out, err := os.Create(filepath.Join(s.Dir, "activate.out"))
	require.NoErrorf(t, err, "set-up: a file for the output")
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	require.NoErrorf(t, reaper.Start(cmd), "start %s", ssa)
	t.Cleanup(func() {
		cmd.Process.Kill()
		reaper.Wait(cmd)
	})
	t.Logf("started %s (pid %d)", strings.Join(cmd.Args, " "), cmd.Process.Pid)
	// Wait for listen(), not just bind(): a connection in between is
	// refused. Connecting to find out would start the server.
	require.Eventuallyf(t, func() bool { return listening(s.Socket) },
		launch.LaunchTimeout, 5*time.Millisecond, "set-up: systemd-socket-activate must listen on %s (its output: %q)", s.Socket, outputFile(out.Name()))
	var st unix.Stat_t
	require.NoErrorf(t, unix.Stat(s.Socket, &st), "set-up: stat %s", s.Socket)
	return &activation{pid: cmd.Process.Pid, inode: st.Ino, notify: n}
}

// listening reports whether a socket bound at path listens, as
// /proc/net/unix shows it: the flag __SO_ACCEPTCON, 00010000.
func listening(path string) bool {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		// Num RefCount Protocol Flags Type St Inode Path
		f := strings.Fields(line)
		if len(f) == 8 && f[7] == path && f[3] == "00010000" {
			return true
		}
	}
	return false
}

// echoWithin sends msg to the socket at path and returns the echo, giving
// up after limit: a server that does not serve that socket leaves the
// connection waiting in its queue.
func echoWithin(path string, msg []byte, limit time.Duration) ([]byte, error) {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(limit)); err != nil {
		return nil, err
	}
	if _, err := conn.Write(msg); err != nil {
		return nil, err
	}
	if err := conn.CloseWrite(); err != nil {
		return nil, err
	}
	return io.ReadAll(conn)
}

// requireActivatedEcho requires the server to echo on the socket the
// manager bound, whose file is still the one it bound.
func requireActivatedEcho(t *testing.T, s *daemontest.Sandbox, a *activation) {
	t.Helper()
	msg := []byte("hello, " + t.Name() + "\n")
	got, err := echoWithin(s.Socket, msg, launch.Settle)
	require.NoErrorf(t, err, "the server must serve on the socket the manager passed it as descriptor 3, %s; the echo failed; %s", s.Socket, see(13))
	require.Equalf(t, string(msg), string(got), "the echo through %s; %s", s.Socket, see(13))
	var st unix.Stat_t
	require.NoErrorf(t, unix.Stat(s.Socket, &st), "the socket %s the manager bound must stay; %s", s.Socket, see(13))
	require.Equalf(t, a.inode, st.Ino, "the socket file %s must stay the one the manager bound, inode %d; it is inode %d: the server bound a socket of its own there; %s", s.Socket, a.inode, st.Ino, see(13))
}

// Test that the server, socket-activated, serves on the socket the manager
// bound and passed it, and never binds its own at that path: the socket
// file keeps its inode, and the process listening is the one the manager
// started.
func TestServesOnSocketFromManager(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	a := activate(t, s, nil)
	requireActivatedEcho(t, s, a)
	pid, err := peercred.ListenerPid(s.Socket)
	require.NoErrorf(t, err, "connect to %s", s.Socket)
	require.Equalf(t, a.pid, pid, "the socket %s must be the one the manager's process (pid %d) listens on; pid %d listens there; %s", s.Socket, a.pid, pid, see(13))
}

// Test that the server, socket-activated, stays in the foreground as the
// manager's child: the process the manager started executes the server
// and goes on running, and the workers are its children.
func TestStaysManagersChildWhenActivated(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	a := activate(t, s, nil)
	requireActivatedEcho(t, s, a)
	s.HoldConnection()
	require.Truef(t, launch.Alive(a.pid), "the process the manager started (pid %d) must go on running as the server; it has exited: the program put itself in the background; %s", a.pid, see(13))
	st := s.Stat(a.pid)
	require.Equalf(t, os.Getpid(), st.PPid, "the server %d must stay the manager's child (pid %d); its parent is %d; %s", a.pid, os.Getpid(), st.PPid, see(13))
	kids, err := proc.Children(a.pid)
	require.NoErrorf(t, err, "read the children of %d from /proc", a.pid)
	require.NotEmptyf(t, kids, "the worker serving the open connection must be a child of the process the manager started (pid %d); it has none; %s", a.pid, see(13))
}

// Test that the server, socket-activated, tells the manager that it is
// ready (READY=1) once it serves, and that it stops (STOPPING=1) on
// SIGTERM, then exits with status 0, leaving the manager's socket file in
// place.
func TestNotifiesManagerOfReadyAndStopping(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	a := activate(t, s, nil)
	requireActivatedEcho(t, s, a)
	a.notify.waitFor(t, "READY=1", "once it serves")
	s.Signal(a.pid, syscall.SIGTERM)
	a.notify.waitFor(t, "STOPPING=1", "on SIGTERM")
	require.Equalf(t, 0, s.WaitExit(a.pid), "on SIGTERM the server %d must exit with status 0; %s", a.pid, see(13))
	var st unix.Stat_t
	require.NoErrorf(t, unix.Stat(s.Socket, &st), "the socket file %s belongs to the manager: the server must not remove it; %s", s.Socket, see(13))
	require.Equalf(t, a.inode, st.Ino, "the socket file %s must still be the one the manager bound, inode %d; it is inode %d; %s", s.Socket, a.inode, st.Ino, see(13))
}

// Test that the workers of a socket-activated server do not inherit the
// variables the manager set for the server alone: LISTEN_PID, LISTEN_FDS,
// LISTEN_FDNAMES and NOTIFY_SOCKET.
func TestWorkersDoNotInheritManagerVariables(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	a := activate(t, s, nil, "--fdname=echod")
	requireActivatedEcho(t, s, a)
	s.HoldConnection()
	server, err := peercred.ListenerPid(s.Socket)
	require.NoErrorf(t, err, "connect to %s", s.Socket)
	// Wait for the worker of the held connection alone: the worker of the
	// connection that asked for the server's pid may not have called exec
	// yet, and until it does /proc shows the server's own environment.
	var live []int
	s.Eventually(func() bool { live = liveWorkers(t, server); return len(live) == 1 },
		"the server %d must have one live worker, for the open connection; its live children: %v; %s", server, &live, see(1))
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", live[0]))
	require.NoErrorf(t, err, "read the environment of the worker %d", live[0])
	for _, v := range strings.Split(string(env), "\x00") {
		name, _, _ := strings.Cut(v, "=")
		require.NotContainsf(t, []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET"}, name, "the worker %d must not inherit %s: /proc/%d/environ holds %q; the server must remove the manager's variables from its environment; %s", live[0], name, live[0], v, see(13))
	}
}

// Test that the server, handed several sockets, serves on the one that
// LISTEN_FDNAMES names "echod" (echod.socket's FileDescriptorName=), here
// descriptor 4, and not on the first; and that no worker inherits any of
// the sockets the manager passed: a worker's descriptor 3 is its
// connection, but the server's 4 would reach it unless it is close-on-exec.
func TestServesOnSocketNamedEchod(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	other := filepath.Join(s.Dir, "other.sock")
	a := activate(t, s, []string{other}, "--fdname=other:echod")
	requireActivatedEcho(t, s, a)
	s.HoldConnection()
	var workers []int
	var holding string
	s.Eventually(func() bool {
		workers, holding = liveWorkers(t, a.pid), ""
		passed := make(map[string]bool)
		for _, sock := range sockets(t, a.pid) {
			passed[sock] = true
		}
		for _, w := range workers {
			fds, _ := proc.Fds(w)
			for fd, target := range fds {
				if passed[target] {
					holding = fmt.Sprintf("worker %d holds %s as descriptor %d (ls -l /proc/%d/fd)", w, target, fd, w)
				}
			}
		}
		return len(workers) > 0 && holding == ""
	}, "with a client connected, the server %d must have a worker (its live children: %v) that holds none of the sockets the manager passed: %s; make every passed descriptor close-on-exec; %s", a.pid, &workers, &holding, see(13))
}

// Test that the unit files that ship with this step, echod.socket and
// echod.service, pass "systemd-analyze verify": no error and no warning.
// systemd-analyze checks that ExecStart='s program exists, so the test
// verifies a copy of echod.service whose ExecStart= names the binary it
// built; everything else is verified as shipped.
func TestUnitFilesPassVerify(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is missing: apt-get install systemd")
	}
	dir := t.TempDir()
	for _, name := range []string{"echod.socket", "echod.service"} {
		b, err := os.ReadFile(name)
		require.NoErrorf(t, err, "the step must ship the unit file %s; %s", name, see(13))
		text := string(b)
		if name == "echod.service" {
			require.Containsf(t, text, "ExecStart=/usr/local/bin/echod ", "%s must start /usr/local/bin/echod, where README.md installs it; %s", name, see(13))
			text = strings.Replace(text, "ExecStart=/usr/local/bin/echod ", "ExecStart="+daemontest.Binary+" ", 1)
		}
		require.NoErrorf(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644), "set-up: copy %s", name)
	}
	cmd := exec.Command(analyze, "verify", "echod.socket", "echod.service")
	cmd.Dir = dir
	out, err := reaper.CombinedOutput(cmd)
	t.Logf("systemd-analyze verify echod.socket echod.service: %v\n%s", err, out)
	require.NoErrorf(t, err, "systemd-analyze verify must accept the unit files; it said:\n%s%s", out, see(13))
	require.Emptyf(t, strings.TrimSpace(string(out)), "systemd-analyze verify must have nothing to say about the unit files; it said:\n%s%s", out, see(13))
}

// idleLimit is the -idle the tests give: short, so that they run fast.
const idleLimit = time.Second

// Test that clients who let nothing move on their connections cannot hold
// the workers for ever: with -maxworkers 2 and -idle 1s, one client that
// sends nothing more and one that sends a lot and never reads its echo
// hold both workers, and a third client must still be served within a few
// seconds, once the idle limit has ended the other two (step 12, with the
// idle limit that keeps its cap from becoming a denial of service).
func TestIdleClientsDoNotHoldWorkers(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "maxworkers", 12)
	daemontest.RequireFlag(t, "idle", 12)
	s := daemontest.New(t)
	server, _ := startFrom(t, s, s.Command(append(s.Flags(), "-maxworkers", "2", "-idle", idleLimit.String())...))
	s.HoldConnection() // silent from now on
	deaf := s.HoldConnection()
	// The worker echoes until the client's side is full, then waits to
	// write; the client's own write stops when the worker stops reading.
	require.NoError(t, deaf.SetWriteDeadline(time.Now().Add(idleLimit/2)), "set-up: a write deadline")
	n, _ := deaf.Write(make([]byte, 16<<20))
	t.Logf("held 2 connections: one silent, one that sent %d bytes and reads nothing", n)

	limit := idleLimit + 2*launch.Settle
	msg := []byte("after the idle ones\n")
	got, err := echoWithin(s.Socket, msg, limit)
	require.NoErrorf(t, err, "with -maxworkers 2 held by two idle clients and -idle %v, a third client must be served within %v: an idle connection must end; %s", idleLimit, limit, see(12))
	require.Equalf(t, string(msg), string(got), "the third client's echo; %s", see(12))
	// One freed worker serves the third client: the other idle one must end
	// too, the one that waits to write an echo nobody reads.
	var workers []int
	s.Eventually(func() bool { workers = liveWorkers(t, server); return len(workers) == 0 },
		"with -idle %v, the workers of both idle clients, the silent one and the one that never reads its echo, must end; the server %d still has live workers %v: a write that waits for room must time out too (SO_SNDTIMEO as well as SO_RCVTIMEO); %s", idleLimit, server, &workers, see(12))
}

// deadClientLimit is how soon a client must be served after a burst of
// clients that went away while queued: a worker started for each of them
// would take many seconds.
const deadClientLimit = 3 * time.Second

// Test that the server skips a queued connection whose client has gone:
// with -maxworkers 1 held by one client, 1,500 clients connect and close
// while queued; once the held client closes, a new client must be served
// within 3 s, not after a worker for each dead one. A client queued among
// them that has sent its data and closed only its writing side still gets
// its echo (step 12, with the cap's queue).
func TestDeadQueuedClientsAreSkipped(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "maxworkers", 12)
	s := daemontest.New(t)
	startFrom(t, s, s.Command(append(s.Flags(), "-maxworkers", "1")...))
	held := s.HoldConnection()
	half, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: s.Socket, Net: "unix"})
	require.NoError(t, err, "set-up: connect a client that closes its writing side")
	defer half.Close()
	_, err = half.Write([]byte("half-closed\n"))
	require.NoError(t, err, "set-up: write to the half-closed client")
	require.NoError(t, half.CloseWrite(), "set-up: close the writing side")
	const dead = 1500
	for i := range dead {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err, "set-up: a socket")
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: s.Socket})
		unix.Close(fd)
		require.NoErrorf(t, err, "set-up: client %d of %d must connect (the listen queue holds it)", i+1, dead)
	}
	t.Logf("%d clients connected and closed while queued", dead)
	held.Close()

	begin := time.Now()
	msg := []byte("after the dead ones\n")
	got, err := echoWithin(s.Socket, msg, deadClientLimit)
	require.NoErrorf(t, err, "after %d queued clients that closed, a new client must be served within %v (it waited %v): the server must skip a connection whose client has gone instead of starting a worker for it; %s", dead, deadClientLimit, time.Since(begin).Round(time.Millisecond), see(12))
	require.Equalf(t, string(msg), string(got), "the new client's echo; %s", see(12))
	t.Logf("the new client was served %v after the held one closed", time.Since(begin).Round(time.Millisecond))
	require.NoError(t, half.SetDeadline(time.Now().Add(launch.Settle)))
	got, err = io.ReadAll(half)
	require.NoErrorf(t, err, "a queued client that closed only its writing side has not gone: it must get its echo; %s", see(12))
	require.Equalf(t, "half-closed\n", string(got), "the half-closed client's echo; %s", see(12))
}

// Test that a service manager that stops reading its notification socket
// cannot stall the server: with $NOTIFY_SOCKET bound, never read, and its
// queue full, the server must still serve, exit with status 0 within 5 s
// of SIGTERM, and say on standard error, at priority err, that READY=1 did
// not go out (a message the manager cannot take is never lost silently).
func TestFullNotifySocketDoesNotBlockServer(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	n := listenNotify(t, s) // never read
	sender, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoErrorf(t, err, "set-up: a datagram socket")
	defer unix.Close(sender)
	queued := 0
	for ; ; queued++ {
		err := unix.Sendto(sender, []byte(filler), 0, &unix.SockaddrUnix{Name: n.path})
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		require.NoErrorf(t, err, "set-up: fill the queue of %s", n.path)
	}
	t.Logf("the queue of %s is full after %d datagrams", n.path, queued)

	cmd := s.Command(s.Flags()...)
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+n.path)
	_, stderr := runProgram(t, s, cmd)
	server := waitServer(t, s, "with a full $NOTIFY_SOCKET, a server must still answer on %s within %v (output: %q); %s", s.Socket, launch.LaunchTimeout, stderr, see(13))
	s.RequireEcho()
	s.Signal(server, syscall.SIGTERM)
	deadline := time.Now().Add(shutdownLimit)
	for launch.Alive(server) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.Falsef(t, launch.Alive(server), "on SIGTERM the server %d must exit within %v even though $NOTIFY_SOCKET takes nothing: a notification must never block the server; it still runs (output: %q); %s", server, shutdownLimit, stderr, see(13))
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(13))
	require.Regexpf(t, `(?m)^<3>.*READY=1`, stderr.String(), "a READY=1 that $NOTIFY_SOCKET could not take must be logged on standard error at priority err (<3>), naming READY=1; %s", see(13))
}

// Test that sockets passed for another process are not the server's
// (sd_listen_fds(3)): given a listening socket as descriptor 3 with
// LISTEN_PID=1 and LISTEN_FDS=1, the server must say so on standard error,
// close the descriptor, and serve on -socket; a client of the passed
// socket is then refused, not left waiting in a queue that nobody serves.
func TestForeignListenFdsAreClosed(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	passed := filepath.Join(s.Dir, "passed.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: passed, Net: "unix"})
	require.NoErrorf(t, err, "set-up: listen on %s", passed)
	ln.SetUnlinkOnClose(false)
	f, err := ln.File()
	require.NoError(t, err, "set-up: the listening socket as a file")
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(f.Fd()), &st), "set-up: the socket's inode")
	socket := fmt.Sprintf("socket:[%d]", st.Ino)

	cmd := s.Command(s.Flags()...)
	cmd.ExtraFiles = []*os.File{f} // descriptor 3
	cmd.Env = append(cmd.Env, "LISTEN_PID=1", "LISTEN_FDS=1")
	_, stderr := runProgram(t, s, cmd)
	server := waitServer(t, s, "with LISTEN_PID=1, the server must bind -socket and answer on %s within %v (output: %q); %s", s.Socket, launch.LaunchTimeout, stderr, see(13))
	f.Close()
	ln.Close() // the test's copies: the server's, if it kept one, is the last
	s.RequireEcho()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", server))
	require.NoErrorf(t, err, "read /proc/%d/fd", server)
	for _, fd := range fds {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", server, fd.Name()))
		require.NotEqualf(t, socket, link, "the server %d must close the socket passed for another process (LISTEN_PID=1); its descriptor %s is still %s; %s", server, fd.Name(), link, see(13))
	}
	_, err = echoWithin(passed, []byte("anyone?\n"), launch.Settle)
	require.Errorf(t, err, "a client of the socket passed for another process must not be served by this server; %s", see(13))
	require.NotErrorIsf(t, err, os.ErrDeadlineExceeded, "a client of the socket passed for another process must be refused once the server closed it, not left waiting; %s", see(13))
	require.Containsf(t, stderr.String(), "LISTEN_PID", "the server must say on standard error why it does not serve the socket it was passed (LISTEN_PID names another process); it wrote %q; %s", stderr, see(13))
}

// holdWorkers holds n connections to the server and returns the pids of
// the n workers that serve them.
func holdWorkers(t *testing.T, s *daemontest.Sandbox, server, n int) []int {
	t.Helper()
	for range n {
		s.HoldConnection()
	}
	// Wait for the workers of the held connections alone: the worker of
	// the connection that found the server ends by itself.
	var live []int
	s.Eventually(func() bool { live = liveWorkers(t, server); return len(live) == n },
		"the server %d must have a live worker for each of the %d open connections; its live children: %v; %s", server, n, &live, see(1))
	return live
}

// killedWorkers counts the workers that the log says were killed by
// signal 9: a message "worker PID: killed by signal 9" for one, and its
// "(and N more since the last such message)" for N more.
func killedWorkers(log string) int {
	killed := regexp.MustCompile(`(?m)worker \d+: killed by signal 9\b.*$`)
	more := regexp.MustCompile(`\(and (\d+) more since the last such message\)`)
	n := 0
	for _, line := range killed.FindAllString(log, -1) {
		n++
		if m := more.FindStringSubmatch(line); m != nil {
			k, _ := strconv.Atoi(m[1])
			n += k
		}
	}
	return n
}

// Test that worker trouble held back by the limit of one message a second
// is written to standard error by the server's exit: after kill -9 of 4
// workers and SIGTERM at once, standard error must account for all 4, one
// line each or a count "(and N more since the last such message)"
// (recommendation 12: nothing is lost without a trace, logged as step 13
// logs).
func TestHeldBackTroubleIsLoggedToStderr(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, stderr := startWithStderr(t, s)
	workers := holdWorkers(t, s, server, 4)
	for _, w := range workers {
		s.Signal(w, syscall.SIGKILL)
	}
	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(10))
	require.Equalf(t, len(workers), killedWorkers(stderr.String()), "after kill -9 of %d workers %v and SIGTERM at once, standard error must account for each of them by the server's exit (\"<3>worker PID: killed by signal 9\", or a count \"(and N more since the last such message)\"); it holds %q; %s",
		len(workers), workers, stderr, see(12))
}

// Test that trouble with workers is logged at most once a second, and
// that nothing held back goes untold (recommendation 12, logged as step 13
// logs): five workers killed at once bring lines on standard error that
// arrive a second apart, less the half second the test allows for a line's
// delay on the way, and these lines with the "(and N more since the last such message)" they end with
// account for every worker killed. The lines carry no time (the journal
// adds it): the test notes when each arrives, as the journal would.
func TestTroubleIsLoggedToStderrAtMostOnceASecond(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, stderr := startWithTimedStderr(t, s)
	const burst = 5
	live := holdWorkers(t, s, server, burst)
	killed := 0
	for _, w := range live {
		s.Signal(w, syscall.SIGKILL)
		killed++
	}
	// The first line tells of one worker; the others are held back, and
	// must be told by the next line, once the second is up, with no new
	// trouble to bring it. The wait is bounded by the window the server must
	// keep to, not a guess.
	var trouble []timedLine
	told := func() int {
		trouble = nil
		n := 0
		for _, l := range stderr.lines() {
			if sub := troubleKilled.FindStringSubmatch(l.text); sub != nil {
				trouble = append(trouble, l)
				n++
				if sub[2] != "" {
					held, _ := strconv.Atoi(sub[2])
					n += held
				}
			}
		}
		return n
	}
	deadline := time.Now().Add(troubleInterval + 2*launch.Settle)
	for told() < killed {
		require.Falsef(t, time.Now().After(deadline), "of %d workers killed with kill -9, the lines \"<3>worker PID: killed by signal 9\" and the \"(and N more ...)\" they end with must tell all once a second has passed; they tell %d:\n%s; %s", killed, told(), stderr, see(12))
		time.Sleep(troublePoll)
	}
	t.Logf("%d workers killed, told by %d lines: %v", killed, len(trouble), trouble)
	for i := 1; i < len(trouble); i++ {
		gap := trouble[i].at.Sub(trouble[i-1].at)
		require.GreaterOrEqualf(t, gap, troubleInterval-arrivalDelay, "trouble must be logged at most once a second: %q came %v after %q (the test allows %v for delay on the way); %s", trouble[i].text, gap, trouble[i-1].text, arrivalDelay, see(12))
	}
}

// troubleKilled matches the line of a worker killed with kill -9, and
// the count of lines held back that it may end with.
var troubleKilled = regexp.MustCompile(`^<3>worker \d+: killed by signal 9\b.*?(\(and (\d+) more since the last such message\))?$`)

const (
	// troubleInterval is the least time between two lines about workers.
	troubleInterval = time.Second
	// arrivalDelay is how much later than the one before it the test may
	// read a line, on a loaded machine.
	arrivalDelay = 500 * time.Millisecond
	// troublePoll is how often the test looks for the next line.
	troublePoll = 20 * time.Millisecond
)

// timedLine is a line of the program's standard error and when the test
// read it.
type timedLine struct {
	at   time.Time
	text string
}

func (l timedLine) String() string { return l.at.Format("15:04:05.000") + " " + l.text }

// timedOutput holds the lines of a program's standard error as they
// arrive, each with its time, as the journal would stamp them.
type timedOutput struct {
	mu  sync.Mutex
	got []timedLine
}

// String returns the lines read so far, one a line, for messages.
func (o *timedOutput) String() string {
	var b strings.Builder
	for _, l := range o.lines() {
		fmt.Fprintln(&b, l)
	}
	return b.String()
}

// lines returns the lines read so far.
func (o *timedOutput) lines() []timedLine {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got)
}

// startWithTimedStderr is start with the program's standard output and
// error on a pipe that the test reads as the lines come.
func startWithTimedStderr(t *testing.T, s *daemontest.Sandbox) (server int, stderr *timedOutput) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoErrorf(t, err, "set-up: a pipe for the program's standard error")
	t.Cleanup(func() { r.Close() })
	cmd := s.Command(s.Flags()...)
	cmd.Stdout, cmd.Stderr = w, w
	runProgram(t, s, cmd)
	w.Close() // the program and its workers hold it now
	stderr = &timedOutput{}
	go func() {
		lines := bufio.NewScanner(r)
		for lines.Scan() {
			stderr.mu.Lock()
			stderr.got = append(stderr.got, timedLine{time.Now(), lines.Text()})
			stderr.mu.Unlock()
		}
	}()
	server = waitServer(t, s, "a server must answer on %s within %v of its start; none does (standard error: %q); %s", s.Socket, launch.LaunchTimeout, stderr, see(13))
	return server, stderr
}

// troubleFlushLimit bounds how long worker trouble held back by the limit
// of a message a second may wait to be logged when no more trouble comes.
const troubleFlushLimit = 3 * time.Second

// Test that worker trouble held back by the limit of one message a second
// is written to standard error within seconds even when no more trouble
// comes: after kill -9 of 4 workers at once, standard error must account
// for all 4, one line each or a count "(and N more since the last such
// message)" (recommendation 12: nothing is lost without a trace, logged as
// step 13 logs).
func TestHeldBackTroubleIsLoggedToStderrWithinSeconds(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, stderr := startWithStderr(t, s)
	workers := holdWorkers(t, s, server, 4)
	for _, w := range workers {
		s.Signal(w, syscall.SIGKILL)
	}
	require.Eventuallyf(t, func() bool { return killedWorkers(stderr.String()) == len(workers) }, troubleFlushLimit, 10*time.Millisecond,
		"after kill -9 of %d workers %v, and no trouble since, standard error must account for each of them within %v (\"<3>worker PID: killed by signal 9\", or a count \"(and N more since the last such message)\"); it holds %q; %s",
		len(workers), workers, troubleFlushLimit, stderr, see(12))
}

// Test that the server's stop line on standard error says how many
// workers it ended: with 3 connections open, SIGTERM must bring
// "<6>stopped: ended 3 workers" (or words to that effect: "stopped", then
// "3 workers") (recommendation 12, logged as step 13 logs). The workers it
// ended with SIGTERM itself are no trouble to log.
func TestShutdownSaysHowManyWorkersItEndedToStderr(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	server, stderr := startWithStderr(t, s)
	holdWorkers(t, s, server, 3)
	s.Signal(server, syscall.SIGTERM)
	require.Equalf(t, 0, s.WaitExit(server), "on SIGTERM the server %d must exit with status 0; %s", server, see(10))
	require.Regexpf(t, `(?m)^<6>stopped\b.*\b3 workers\b`, stderr.String(), "with 3 connections open, the server's stop line on standard error must say that it ended 3 workers; %s", see(12))
	require.NotContainsf(t, stderr.String(), "killed by signal 15", "the 3 workers the server %d ended with SIGTERM at its stop must not be logged as killed (only a signal from elsewhere is news); %s", server, see(12))
}

// Test that an -idle that is not a duration of 1ms or more is refused
// with one line that names the flag, and a non-zero exit (step 12's idle
// limit: 0 would mean no limit at all to the kernel).
func TestRejectsBadIdle(t *testing.T) {
	t.Parallel()
	daemontest.RequireFlag(t, "idle", 12)
	s := daemontest.New(t)
	for _, d := range []string{"0", "-1s", "500us", "soon"} {
		r := s.Run(s.Command(append(s.Flags(), "-idle", d)...))
		require.NotEqualf(t, 0, r.Code, "-idle %s must be refused: the program must exit non-zero; it exited 0; %s", d, see(12))
		require.Containsf(t, r.Stderr, "-idle", "-idle %s: the message must name the flag; it is %q; %s", d, r.Stderr, see(12))
	}
}

// Test that a socket whose listen queue is full is not taken for a stale
// one: its server is only slow to accept. A connect that does not wait
// fails with EAGAIN there, not ECONNREFUSED, and only a refused connection
// proves a socket stale (recommendation 7).
func TestKeepsSocketWithFullListenQueue(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	queued := listenWithFullQueue(t, s.Socket)
	inode := inodeOf(t, s.Socket)
	// A program that takes the socket for stale serves on, in the
	// foreground: wait for its exit or for the socket to change.
	started, output := runProgram(t, s, s.Command(s.Flags()...))
	sameSocket := func() bool {
		fi, err := os.Lstat(s.Socket)
		return err == nil && fi.Sys().(*syscall.Stat_t).Ino == inode
	}
	launch.WaitUntil(context.Background(), launch.Settle, func() bool { return !launch.Alive(started) || !sameSocket() })
	require.Truef(t, sameSocket(), "the socket %s, whose listen queue is full (%d connections wait), must still be the other program's (inode %d): the program %d removed it as stale (output: %q); a connect that fails with EAGAIN means someone listens; %s", s.Socket, queued, inode, started, output, see(7))
	require.Falsef(t, launch.Alive(started), "a start while another program listens on %s must be refused: the program %d must exit; it still runs (output: %q); %s", s.Socket, started, output, see(7))
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

// Test that no logged string holds a control character but the final
// newline: a path with a carriage return, an escape sequence, DEL or a C1
// control, written raw to standard error, the log from step 13, would
// overwrite, hide or recolour what an administrator reads with journalctl
// (recommendation 11). The path reaches the log inside an error the kernel
// gave for it.
func TestLoggedStringsHaveNoControlCharacters(t *testing.T) {
	t.Parallel()
	s := daemontest.New(t)
	// A directory on the way to the socket that does not exist: the lstat
	// of it fails with ENOENT, and the kernel's error names it.
	missing := filepath.Join(s.Dir, "a\rb\x1b[2Jc\x07d\x7fe\u0085f\u009bg")
	r := s.Run(s.Command(append(s.Flags(), "-socket", filepath.Join(missing, "sock"))...))
	require.NotEqualf(t, 0, r.Code, "a -socket whose directory does not exist must be refused; it exited 0 (stdout %q); %s", r.Stdout, see(1))
	require.Containsf(t, r.Stderr, "sock", "the refusal on standard error must name the -socket path; it is %q; %s", r.Stderr, see(1))
	for _, line := range strings.SplitAfter(r.Stderr, "\n") {
		requireNoControlCharacters(t, "a line on standard error, the log from step 13", strings.TrimSuffix(line, "\n"), see(11))
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
