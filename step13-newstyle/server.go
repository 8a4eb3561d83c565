package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
)

// connFd is the descriptor on which a worker finds its connection.
const connFd = 3

// Accept errors such as "too many open files" pass; the server waits a
// little before it tries again, doubling the wait up to a ceiling, as
// net/http does.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
)

// echoBuffer is how much a worker reads and writes back at a time.
const echoBuffer = 64 << 10

// workerGrace is how long shutdown waits for the workers to end on SIGTERM
// before it kills them.
const workerGrace = time.Second

// errStartFailed reports that the server could not start. It has logged
// why.
var errStartFailed = errors.New("the server could not start")

// server is what the running server holds.
type server struct {
	listener *os.File       // the listening socket
	socket   os.FileInfo    // the socket file it bound, for shutdown; nil if the manager's
	stop     chan os.Signal // SIGTERM or SIGINT: time to shut down
	children chan os.Signal // SIGCHLD: a worker has exited
	workers  map[int]bool   // the pids of the workers not yet reaped
	max      int            // how many workers may run at once

	lastTrouble time.Time // when logTrouble last logged
	heldTrouble int       // how many messages logTrouble has held back since
}

// runServer sets the server up, tells the service manager that it is
// ready, and serves.
func runServer(cfg config) error {
	srv, err := startServer(cfg)
	if err != nil {
		logError("cannot start: %v", err)
		return errStartFailed
	}
	logInfo("started: pid %d listens on %q", os.Getpid(), srv.listener.Name())
	notifyManager("READY=1", fmt.Sprintf("STATUS=listening on %q", srv.listener.Name()))
	defer srv.shutdown()
	return srv.serve()
}

// startServer sets up what is still the daemon's own job, and listens.
func startServer(cfg config) (*server, error) {
	// Recommendation 9: choose the permissions of the files the server
	// creates rather than inherit whatever umask it was started with (a
	// unit's UMask=, 0022 unless set, or a shell's). 027 takes write from
	// the group and everything from others. It comes first, before the
	// server creates anything.
	unix.Umask(0o027)
	// Recommendation 10: ignore the signals a daemon has no use for. It has
	// no terminal to hang up (SIGHUP) or to stop it for job control
	// (SIGTSTP, SIGTTIN, SIGTTOU), and a client that goes away must cost a
	// failed write, not the server's life (SIGPIPE). An ignored disposition
	// inherited from whoever started it is not enough: the Go runtime
	// installs its own handlers at start. SIGTERM and SIGINT are caught instead, and
	// the main loop shuts down cleanly.
	signal.Ignore(unix.SIGHUP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGPIPE)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, unix.SIGTERM, unix.SIGINT)
	// Recommendation 12: hear when a worker exits, to reap it.
	children := make(chan os.Signal, 1)
	signal.Notify(children, unix.SIGCHLD)
	// What the service manager hands over in the environment is taken out
	// of it first, so that no worker inherits it.
	takeNotifySocket()
	srv := &server{stop: stop, children: children, workers: make(map[int]bool), max: cfg.maxWorkers}
	ln, err := listenerFromManager()
	switch {
	case err != nil:
		return nil, err
	case ln != nil:
		srv.listener = ln // the manager's: shutdown leaves its file alone
		return srv, nil
	}
	if srv.listener, err = listen(cfg.socket); err != nil {
		return nil, err
	}
	// Recommendation 10: remember which socket file this server made, so
	// that shutdown removes that one and no other.
	if srv.socket, err = os.Lstat(cfg.socket); err != nil {
		srv.listener.Close()
		return nil, err
	}
	return srv, nil
}

// listen removes a socket that an earlier server left behind at path, then
// listens there. These are the C server's socket(), bind() and listen(),
// through golang.org/x/sys/unix rather than package net: net would link
// the C library in for its DNS resolver, and every worker would pay for the
// dynamic loader (PERFORMANCE.md). The socket is close-on-exec, so that no
// worker inherits it.
func listen(path string) (*os.File, error) {
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind %q: %w", path, err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen %q: %w", path, err)
	}
	// A non-blocking descriptor in an *os.File is watched by the Go
	// runtime's poller, so acceptConn can wait without holding a thread.
	return os.NewFile(uintptr(fd), path), nil
}

// removeStaleSocket removes the socket at path, if there is one and nobody
// accepts connections there: without the lock of steps 07 to 12, this is
// what keeps a second copy started by hand from taking the socket of a
// server that runs (a service manager runs one copy of a service).
// Anything but a socket is refused and left alone: the path may be a typo
// for a file that matters.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket %q: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket %q: exists and is not a socket (%s); refusing to remove it", path, fileType(fi))
	}
	if someoneListens(path) {
		return fmt.Errorf("socket %q: a server accepts connections there; refusing to remove it", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %q: %w", path, err)
	}
	return nil
}

// someoneListens connects to the socket at path: only a refused connection
// proves it stale. The connect does not wait: a full queue says EAGAIN.
func someoneListens(path string) bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		defer unix.Close(fd)
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	}
	return !errors.Is(err, unix.ECONNREFUSED)
}

// serve hands every connection to a worker process of its own. Accepting
// runs in a goroutine of its own, so that the main loop can wait for other
// events as well.
func (s *server) serve() error {
	conns := make(chan int)
	failed := make(chan error, 1)
	go accept(s.listener, conns, failed)
	for {
		// At the cap, the loop takes no connection: the accept goroutine
		// waits with one, and the clients after it wait in the listen queue
		// until a worker exits.
		accepted := conns
		if len(s.workers) >= s.max {
			accepted = nil
		}
		select {
		case conn := <-accepted:
			if pid, err := startWorker(conn); err != nil {
				// Out of processes, say: drop this client, serve the next.
				s.logTrouble("start worker: %v", err)
			} else {
				s.workers[pid] = true
			}
			unix.Close(conn) // the worker has its own copy
		case <-s.children:
			s.reap()
		case err := <-failed:
			return err
		case <-s.stop:
			return nil
		}
	}
}

// shutdown ends the server cleanly (recommendation 10). It tells the
// service manager that it stops, stops listening, ends its workers and
// removes its socket. It removes the path only while it names the file
// this server made: if someone deleted the socket, another server may
// listen at that path now; and a socket the manager passed is the
// manager's, which passes it again to the next start.
func (s *server) shutdown() {
	notifyManager("STOPPING=1", fmt.Sprintf("STATUS=stopping: ending %d workers", len(s.workers)))
	s.listener.Close()
	s.stopWorkers()
	if s.socket != nil && isAt(s.listener.Name(), s.socket) {
		os.Remove(s.listener.Name())
	}
	logInfo("stopped")
}

// accept sends each connection's descriptor to conns. A passing failure,
// such as running out of descriptors, makes it wait and try again rather
// than spin; any other failure ends it.
func accept(ln *os.File, conns chan<- int, failed chan<- error) {
	var delay time.Duration
	for {
		conn, err := acceptConn(ln)
		if err == nil {
			delay = 0
			conns <- conn
			continue
		}
		if !isTemporary(err) {
			failed <- fmt.Errorf("accept: %w", err)
			return
		}
		delay = min(max(2*delay, minAcceptDelay), maxAcceptDelay)
		logError("accept: %v; trying again in %v", err, delay)
		time.Sleep(delay)
	}
}

// acceptConn waits for a connection on ln and returns its descriptor, as
// the C server's accept() does. raw.Read calls the function once the
// runtime's poller says the socket is readable, and again for as long as
// it returns false: accept4() says EAGAIN when no connection waits after all.
func acceptConn(ln *os.File) (int, error) {
	raw, err := ln.SyscallConn()
	if err != nil {
		return -1, err
	}
	conn := -1
	var acceptErr error
	err = raw.Read(func(fd uintptr) bool {
		conn, _, acceptErr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC)
		return !errors.Is(acceptErr, unix.EAGAIN)
	})
	if err != nil {
		return -1, err
	}
	return conn, acceptErr
}

// isTemporary reports whether an accept error may pass by itself: the
// process or the system is out of descriptors or memory for a moment, or a
// client gave up before it was accepted.
func isTemporary(err error) bool {
	for _, errno := range []unix.Errno{unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM, unix.ECONNABORTED, unix.EINTR} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// reap collects the exit status of every worker that has exited, so that
// none stays a zombie (recommendation 12). Signals do not queue: several
// workers may have exited for one SIGCHLD, so it waits, without blocking,
// until none is left to reap. Wait4 returns 0 while the workers left are
// still running, and ECHILD once there are none; a loop that went on while
// it returned 0 would spin.
//
// Only this loop waits for the workers: a Go program that reaps with
// wait4(-1) must not also use os/exec's Wait, whose child it could steal.
func (s *server) reap() {
	for {
		var status unix.WaitStatus
		pid, err := unix.Wait4(-1, &status, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		delete(s.workers, pid)
		// SIGTERM is how the server itself ends a worker: not news.
		if status.Signaled() && status.Signal() != unix.SIGTERM {
			s.logTrouble("worker %d: killed by signal %d (%v)", pid, status.Signal(), status.Signal())
		} else if status.Exited() && status.ExitStatus() != 0 {
			s.logTrouble("worker %d: exited with status %d", pid, status.ExitStatus())
		}
	}
}

// logTrouble logs a worker's trouble at most once a second, so that a storm
// of them cannot flood the log, and tells how many it held back.
func (s *server) logTrouble(format string, args ...any) {
	if time.Since(s.lastTrouble) < time.Second {
		s.heldTrouble++
		return
	}
	msg := fmt.Sprintf(format, args...)
	if s.heldTrouble > 0 {
		msg += fmt.Sprintf(" (and %d more since the last such message)", s.heldTrouble)
	}
	logError("%s", msg)
	s.lastTrouble, s.heldTrouble = time.Now(), 0
}

// stopWorkers ends the workers still running and reaps them: SIGTERM first,
// then, after workerGrace, SIGKILL, which no worker can ignore.
func (s *server) stopWorkers() {
	for pid := range s.workers {
		unix.Kill(pid, unix.SIGTERM)
	}
	grace := time.After(workerGrace)
	for s.reap(); len(s.workers) > 0; s.reap() {
		select {
		case <-s.children:
		case <-grace:
			for pid := range s.workers {
				logError("worker %d did not end on SIGTERM: killing it", pid)
				unix.Kill(pid, unix.SIGKILL)
				unix.Wait4(pid, nil, 0, nil)
				delete(s.workers, pid)
			}
		}
	}
}

// startWorker re-executes this program as a worker that echoes the
// connection conn: where the C server forks a child per connection. The
// worker gets the connection as descriptor 3; the listening socket, like
// every descriptor this program opens, is close-on-exec and stays behind.
// It returns the worker's pid.
func startWorker(conn int) (int, error) {
	return reexec(roleWorker, []uintptr{0, 1, 2, uintptr(conn)}, nil)
}

// runWorker echoes the connection on descriptor 3, then closes it. A
// client that goes away before it has read its echo (EPIPE, ECONNRESET) is
// no error: any client could otherwise fill the log. Its messages go to
// standard error, the server's, with its pid: the journal names the
// process that opened the stream, the server.
func runWorker() int {
	err := echo(connFd)
	if err == nil {
		err = unix.Close(connFd)
	}
	if err != nil && !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET) {
		logError("worker %d: echo: %v", os.Getpid(), err)
		return 1
	}
	return 0
}

// echo sends back every byte it reads from fd until the client has closed
// its writing side (a read of 0 bytes), with the C server's read()/write()
// loop on the descriptor itself. Its buffer is memory that every idle
// worker holds; PERFORMANCE.md weighs its size against io.Copy's.
func echo(fd int) error {
	buf := make([]byte, echoBuffer)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("read: %w", err)
		case n == 0:
			return nil
		}
		if err := writeAll(fd, buf[:n]); err != nil {
			return err
		}
	}
}

// writeAll writes all of b to fd: a write to a socket may take only part.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// logError and logInfo log with priority err and info on standard error, for
// the service manager's journal (recommendation 11).
func logError(format string, args ...any) { daemonLog.send(priorityErr, format, args...) }
func logInfo(format string, args ...any)  { daemonLog.send(priorityInfo, format, args...) }
