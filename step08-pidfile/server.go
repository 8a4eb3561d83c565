package main

import (
	"errors"
	"fmt"
	"os"
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
	listener *os.File // the listening socket
	lock     *os.File // the locked pid file: only one copy runs
}

// runServer sets the server up, tells the launcher how that went, and
// serves.
func runServer(cfg config) error {
	srv, err := startServer(cfg)
	notifyLauncher(err)
	if err != nil {
		return errStartFailed
	}
	// The lock lasts while the pid file is open: srv.lock keeps it
	// referenced, so that no finalizer closes it early, and this Close
	// releases the lock once the server stops serving.
	defer srv.lock.Close()
	return srv.serve()
}

// startServer sets the server up and listens.
func startServer(cfg config) (*server, error) {
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
	// Recommendation 8: now that it listens, say which process does.
	if err := writePid(lock); err != nil {
		ln.Close()
		lock.Close()
		return nil, err
	}
	return &server{listener: ln, lock: lock}, nil
}

// serve hands every connection to a worker process of its own. Accepting
// runs in a goroutine of its own, so that the main loop can wait for other
// events as well.
func (s *server) serve() error {
	conns := make(chan int)
	failed := make(chan error, 1)
	go accept(s.listener, conns, failed)
	for {
		select {
		case conn := <-conns:
			if err := startWorker(conn); err != nil {
				logError("start worker: %v", err)
			}
			unix.Close(conn) // the worker has its own copy
		case err := <-failed:
			return err
		}
	}
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
