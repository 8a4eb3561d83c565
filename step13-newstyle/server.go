package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"syscall"
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

// workerGrace is how long shutdown waits for the workers to end on SIGTERM
// before it kills them.
const workerGrace = time.Second

// server is what the running server holds.
type server struct {
	listener *net.UnixListener
	stop     chan os.Signal // SIGTERM or SIGINT: time to shut down
	children chan os.Signal // SIGCHLD: a worker has exited
	workers  map[int]bool   // the pids of the workers not yet reaped
}

// runServer sets the server up, tells the service manager that it is
// ready, and serves. It returns only when the server fails.
func runServer(cfg config) error {
	srv, err := startServer(cfg)
	if err != nil {
		logError("cannot start: %v", err)
		os.Exit(1)
	}
	logInfo("started: pid %d listens on %q", os.Getpid(), srv.listener.Addr())
	notifyManager("READY=1", fmt.Sprintf("STATUS=listening on %q", srv.listener.Addr()))
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
	// inherited from whoever started it is not enough: the Go runtime installs
	// its own handlers at start. SIGTERM and SIGINT are caught instead, and
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
	ln, err := listenerFromManager()
	if err != nil {
		return nil, err
	}
	if ln == nil {
		if ln, err = listen(cfg.socket); err != nil {
			return nil, err
		}
	}
	return &server{listener: ln, stop: stop, children: children, workers: make(map[int]bool)}, nil
}

// listen removes a socket that an earlier server left behind at path, then
// listens there.
func listen(path string) (*net.UnixListener, error) {
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	return net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
}

// removeStaleSocket removes the socket at path, if there is one and no
// server answers there: the socket is stale. Anything but a socket is
// refused and left alone: the path may be a typo for a file that matters.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket %s: exists and is not a socket (%s); refusing to remove it", path, fileType(fi))
	}
	if pid, err := listenerPid(path); err == nil {
		return fmt.Errorf("socket %s: another server, pid %d, listens there", path, pid)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// fileType names the type of file fi describes, for messages.
func fileType(fi fs.FileInfo) string {
	switch t := fi.Mode().Type(); {
	case t == 0:
		return "a regular file"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case t&fs.ModeDevice != 0:
		return "a device"
	default:
		return "file type " + t.String()
	}
}

// serve hands every connection to a worker process of its own. Accepting
// runs in a goroutine of its own, so that the main loop can wait for other
// events as well.
func (s *server) serve() error {
	conns := make(chan *net.UnixConn)
	failed := make(chan error, 1)
	go accept(s.listener, conns, failed)
	for {
		select {
		case conn := <-conns:
			if pid, err := startWorker(conn); err != nil {
				logError("start worker: %v", err)
			} else {
				s.workers[pid] = true
			}
			conn.Close() // the worker has its own copy
		case <-s.children:
			s.reap()
		case err := <-failed:
			return err
		case sig := <-s.stop:
			logInfo("%v: shutting down", sig)
			return nil
		}
	}
}

// shutdown ends the server cleanly (recommendation 10). It tells the
// service manager that it stops, stops listening, which removes the socket
// file unless the manager owns it, and ends its workers (recommendation 12).
func (s *server) shutdown() {
	notifyManager("STOPPING=1", fmt.Sprintf("STATUS=stopping: ending %d workers", len(s.workers)))
	s.listener.Close() // a UnixListener removes its socket file when closed, unless told not to
	s.stopWorkers()
	logInfo("stopped")
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
	}
}

// stopWorkers ends the workers still running and reaps them: SIGTERM first,
// then, after workerGrace, SIGKILL.
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

// accept sends each connection to conns. A passing failure, such as
// running out of descriptors, makes it wait and try again rather than spin;
// any other failure ends it.
func accept(ln *net.UnixListener, conns chan<- *net.UnixConn, failed chan<- error) {
	var delay time.Duration
	for {
		conn, err := ln.AcceptUnix()
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

// isTemporary reports whether an accept error may pass by itself: the
// process or the system is out of descriptors or memory for a moment, or a
// client gave up before it was accepted.
func isTemporary(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// startWorker re-executes this program as a worker that echoes conn: where
// the C server forks a child per connection. The worker gets the connection
// as descriptor 3; the listening socket, like every descriptor Go opens, is
// close-on-exec and stays behind. It returns the worker's pid.
func startWorker(conn *net.UnixConn) (int, error) {
	f, err := conn.File()
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return reexec(roleWorker, []uintptr{0, 1, 2, f.Fd()}, nil)
}

// runWorker echoes the connection on descriptor 3: it sends back every byte
// until the client has closed its writing side, then closes.
func runWorker() int {
	conn := os.NewFile(connFd, "connection")
	if _, err := io.Copy(conn, conn); err != nil {
		logError("echo: %v", err)
		return 1
	}
	if err := conn.Close(); err != nil {
		logError("echo: %v", err)
		return 1
	}
	return 0
}

// logError reports a failure on standard error, with priority err, for
// the service manager's journal.
func logError(format string, args ...any) {
	logLine(priErr, format, args...)
}

// logInfo reports what the server does on standard error, with priority
// info, for the service manager's journal.
func logInfo(format string, args ...any) {
	logLine(priInfo, format, args...)
}
