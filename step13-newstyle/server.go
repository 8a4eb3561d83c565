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
	idle     time.Duration  // how long a connection may stay idle

	lastTrouble time.Time        // when logTrouble last logged
	heldTrouble int              // how many messages logTrouble has held back since
	lastHeld    string           // the last of them
	troubleDue  <-chan time.Time // when the held-back messages are due; nil if none are
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
	// failed write, not the server's life (SIGPIPE). The server sets this
	// itself rather than rely on what it inherits from whoever started it: the Go
	// runtime keeps an inherited SIG_IGN for the first four, but installs
	// its own SIGPIPE handler at start. SIGTERM and SIGINT are caught
	// instead, and the main loop shuts down cleanly.
	signal.Ignore(unix.SIGHUP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGPIPE)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, unix.SIGTERM, unix.SIGINT)
	// Recommendation 12: hear when a worker exits, to reap it.
	children := make(chan os.Signal, 1)
	signal.Notify(children, unix.SIGCHLD)
	// What the service manager hands over in the environment is taken out
	// of it first, so that no worker inherits it.
	takeNotifySocket()
	srv := &server{stop: stop, children: children, workers: make(map[int]bool), max: cfg.maxWorkers, idle: cfg.idle}
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
			if clientGone(conn) {
				unix.Close(conn) // no worker for a client that has gone
				continue
			}
			if err := limitIdle(conn, s.idle); err != nil {
				s.logTrouble("connection: %v", err)
			}
			if pid, err := startWorker(conn); err != nil {
				// Out of processes, say: drop this client, serve the next.
				s.logTrouble("start worker: %v", err)
			} else {
				s.workers[pid] = true
			}
			unix.Close(conn) // the worker has its own copy
		case <-s.children:
			s.reap()
		case <-s.troubleDue:
			s.logHeldTrouble()
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
	ended := s.stopWorkers()
	s.logHeldTrouble()
	if s.socket != nil && isAt(s.listener.Name(), s.socket) {
		os.Remove(s.listener.Name())
	}
	logInfo("stopped: ended %d workers", ended)
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
	var logged time.Time // when the last failure was logged
	held := 0            // failures not logged since
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
		// Recommendation 11: one message a second at most. A success resets
		// the delay, so a shortage that lets every other accept through
		// would otherwise log every few milliseconds.
		if time.Since(logged) < time.Second {
			held++
		} else {
			logError("accept: %v; trying again in %v (%d more failures since the last message)", err, delay, held)
			logged, held = time.Now(), 0
		}
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
