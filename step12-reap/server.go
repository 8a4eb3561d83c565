package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
)

// Accept errors such as "too many open files" pass; the server waits a
// little before it tries again, doubling the wait up to a ceiling, as
// net/http does.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
)

// errStartFailed reports that the server could not start. The launcher
// has been told why, on the notification pipe, and prints the reason.
var errStartFailed = errors.New("the server could not start")

// server is what the running server holds.
type server struct {
	listener *os.File       // the listening socket
	socket   os.FileInfo    // the socket file it bound, for shutdown
	lock     *os.File       // the locked pid file: only one copy runs
	stop     chan os.Signal // SIGTERM or SIGINT: time to shut down
	children chan os.Signal // SIGCHLD: a worker has exited
	workers  map[int]bool   // the pids of the workers not yet reaped
	max      int            // how many workers may run at once

	lastTrouble time.Time // when logTrouble last logged
	heldTrouble int       // how many messages logTrouble has held back since
}

// runServer sets the server up, tells the launcher how that went, and
// serves.
func runServer(cfg config) error {
	srv, err := startServer(cfg)
	notifyLauncher(err)
	if err != nil {
		logError("cannot start: %v", err)
		return errStartFailed
	}
	logInfo("started: pid %d listens on %q", os.Getpid(), cfg.socket)
	// The lock lasts while the pid file is open: srv.lock keeps it
	// referenced, so that no finalizer closes it early, and shutdown
	// closes it, last.
	defer srv.shutdown()
	return srv.serve()
}

// startServer sets the server up and listens.
func startServer(cfg config) (*server, error) {
	// Recommendation 9: choose the permissions of the files the server
	// creates rather than inherit whatever umask the launcher had. 027
	// takes write from the group and everything from others. It comes
	// first, before the server creates anything.
	unix.Umask(0o027)
	// Recommendation 10: ignore the signals a daemon has no use for. It has
	// no terminal to hang up (SIGHUP) or to stop it for job control
	// (SIGTSTP, SIGTTIN, SIGTTOU), and a client that goes away must cost a
	// failed write, not the server's life (SIGPIPE). The server sets this
	// itself rather than rely on what it inherits from the launcher: the Go
	// runtime keeps an inherited SIG_IGN for the first four, but installs
	// its own SIGPIPE handler at start. SIGTERM and SIGINT are caught
	// instead, and the main loop shuts down cleanly.
	signal.Ignore(unix.SIGHUP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGPIPE)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, unix.SIGTERM, unix.SIGINT)
	// Recommendation 12: hear when a worker exits, to reap it.
	children := make(chan os.Signal, 1)
	signal.Notify(children, unix.SIGCHLD)
	// Recommendation 11: from here on, messages go to syslog, or to the
	// -log file when syslog cannot take them.
	if err := startLogging(cfg.syslog, cfg.logfile); err != nil {
		return nil, err
	}
	// Recommendation 4: work in "/", so that the server keeps no directory
	// busy (a file system it held could not be unmounted) and relative
	// paths cannot resolve somewhere unexpected.
	if err := os.Chdir("/"); err != nil {
		return nil, fmt.Errorf("chdir /: %w", err)
	}
	// Recommendation 7: take the lock before touching the socket, so that a
	// second copy gives up without disturbing the first.
	lock, err := lockPidFile(cfg.pidfile)
	if err != nil {
		return nil, err
	}
	ln, err := listen(cfg.socket)
	if err != nil {
		lock.Close()
		return nil, err
	}
	// Recommendation 10: remember which socket file this server made, so
	// that shutdown removes that one and no other.
	socket, err := os.Lstat(cfg.socket)
	if err == nil {
		// Recommendation 8: now that it listens, say which process does.
		err = writePid(lock)
	}
	if err != nil {
		ln.Close()
		lock.Close()
		return nil, err
	}
	return &server{listener: ln, socket: socket, lock: lock, stop: stop,
		children: children, workers: make(map[int]bool), max: cfg.maxWorkers}, nil
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

// shutdown ends the server cleanly (recommendation 10). It stops
// listening and removes its socket, then removes the pid file while it
// still holds the lock, and releases the lock last: a copy started
// meanwhile either fails to lock or finds nothing left over. It removes a
// path only while it names the file this server made: if someone deleted
// the socket, another server may listen at that path now.
func (s *server) shutdown() {
	s.listener.Close()
	s.stopWorkers()
	if isAt(s.listener.Name(), s.socket) {
		os.Remove(s.listener.Name())
	}
	if pidfile, err := s.lock.Stat(); err == nil && isAt(s.lock.Name(), pidfile) {
		os.Remove(s.lock.Name())
	}
	s.lock.Close()
	logInfo("stopped")
}

// isAt reports whether path still names the file that fi describes: the
// same device and inode.
func isAt(path string, fi os.FileInfo) bool {
	now, err := os.Lstat(path)
	return err == nil && os.SameFile(fi, now)
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
