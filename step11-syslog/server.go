package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/syslog"
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

// server is what the running server holds.
type server struct {
	listener *net.UnixListener
	lock     *os.File       // the locked pid file: only one copy runs
	stop     chan os.Signal // SIGTERM or SIGINT: time to shut down
}

// runServer sets the server up, tells the launcher how that went, and
// serves. It returns only when the server fails.
func runServer(cfg config) error {
	srv, err := startServer(cfg)
	notifyLauncher(err)
	if err != nil {
		logError("cannot start: %v", err)
		daemonLog.flush()
		os.Exit(1) // the launcher prints the reason
	}
	logInfo("started: pid %d listens on %s", os.Getpid(), cfg.socket)
	// The lock lasts as long as the file stays open. Closing it, or letting
	// the garbage collector close it once nothing refers to it, would let a
	// second copy start: shutdown closes it, last.
	defer srv.shutdown()
	return srv.serve()
}

// startServer makes the process a daemon and listens.
func startServer(cfg config) (*server, error) {
	// Recommendation 9: choose the permissions of the files the server
	// creates rather than inherit whatever umask the launcher had. 027
	// takes write from the group and everything from others. It comes
	// first, before the server creates anything.
	unix.Umask(0o027)
	// Recommendation 10: ignore the signals a daemon has no use for. It has
	// no terminal to hang up (SIGHUP) or to stop it for job control
	// (SIGTSTP, SIGTTIN, SIGTTOU), and a client that goes away must cost a
	// failed write, not the server's life (SIGPIPE). An ignored disposition
	// inherited from the launcher is not enough: the Go runtime installs
	// its own handlers at start. SIGTERM and SIGINT are caught instead, and
	// the main loop shuts down cleanly.
	signal.Ignore(unix.SIGHUP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGPIPE)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, unix.SIGTERM, unix.SIGINT)
	// Recommendation 11: from here on, messages go to syslog.
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
	// Recommendation 8: now that it listens, say which process does.
	if err := writePid(lock); err != nil {
		ln.Close()
		lock.Close()
		return nil, err
	}
	return &server{listener: ln, lock: lock, stop: stop}, nil
}

// listen removes a socket that an earlier server left behind at path, then
// listens there.
func listen(path string) (*net.UnixListener, error) {
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	return net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
}

// removeStaleSocket removes the socket at path, if there is one. The server
// holds the lock, so no other server listens there: the socket is stale.
// Anything but a socket is refused and left alone: the path may be a typo
// for a file that matters.
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
			if err := startWorker(conn); err != nil {
				logError("start worker: %v", err)
			}
			conn.Close() // the worker has its own copy
		case err := <-failed:
			return err
		case sig := <-s.stop:
			logInfo("%v: shutting down", sig)
			return nil
		}
	}
}

// shutdown ends the server cleanly (recommendation 10). It stops
// listening, which removes the socket file, then removes the pid file while
// it still holds the lock, and releases the lock last: a copy started
// meanwhile either fails to lock or finds nothing left over.
func (s *server) shutdown() {
	s.listener.Close() // a UnixListener removes its socket file when closed
	if ours, _ := sameFile(s.lock, s.lock.Name()); ours {
		os.Remove(s.lock.Name())
	}
	s.lock.Close()
	logInfo("stopped")
	daemonLog.flush()
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
// close-on-exec and stays behind.
func startWorker(conn *net.UnixConn) error {
	f, err := conn.File()
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = reexec(roleWorker, []uintptr{0, 1, 2, f.Fd()}, nil)
	return err
}

// runWorker echoes the connection on descriptor 3: it sends back every byte
// until the client has closed its writing side, then closes.
func runWorker() int {
	conn := os.NewFile(connFd, "connection")
	if _, err := io.Copy(conn, conn); err != nil {
		fmt.Fprintf(os.Stderr, "%s: echo: %v\n", progName, err)
		return 1
	}
	if err := conn.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: echo: %v\n", progName, err)
		return 1
	}
	return 0
}

// logError reports a failure of the running server to syslog, or to the
// log file (recommendation 11).
func logError(format string, args ...any) {
	daemonLog.send(syslog.LOG_ERR, format, args...)
}

// logInfo reports what the server does to syslog, or to the log file
// (recommendation 11).
func logInfo(format string, args ...any) {
	daemonLog.send(syslog.LOG_INFO, format, args...)
}
