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

// errStartFailed reports that the server could not start. It has told the
// launcher why, and the launcher prints the reason.
var errStartFailed = errors.New("the server could not start")

// server is what the running server holds.
type server struct {
	listener *os.File       // the listening socket
	socket   os.FileInfo    // the socket file it bound, for shutdown
	lock     *os.File       // the locked pid file: only one copy runs
	stop     chan os.Signal // SIGTERM or SIGINT: time to shut down
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
	// Closing the file, or letting the garbage collector do so, frees the lock:
	// shutdown closes it, last.
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
	return &server{listener: ln, socket: socket, lock: lock, stop: stop}, nil
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
// accepts connections there: the lock keeps out only copies that share it.
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
		select {
		case conn := <-conns:
			if err := startWorker(conn); err != nil {
				logError("start worker: %v", err)
			}
			unix.Close(conn) // the worker has its own copy
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
	if isAt(s.listener.Name(), s.socket) {
		os.Remove(s.listener.Name())
	}
	if pidfile, err := s.lock.Stat(); err == nil && isAt(s.lock.Name(), pidfile) {
		os.Remove(s.lock.Name())
	}
	s.lock.Close()
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

// startWorker re-executes this program as a worker that echoes the
// connection conn: where the C server forks a child per connection. The
// worker gets the connection as descriptor 3; the listening socket, like
// every descriptor this program opens, is close-on-exec and stays behind.
func startWorker(conn int) error {
	_, err := reexec(roleWorker, []uintptr{0, 1, 2, uintptr(conn)}, nil)
	return err
}

// runWorker echoes the connection on descriptor 3, then closes it.
func runWorker() int {
	if err := echo(connFd); err != nil {
		fmt.Fprintf(os.Stderr, "%s: echo: %v\n", progName, err)
		return 1
	}
	if err := unix.Close(connFd); err != nil {
		fmt.Fprintf(os.Stderr, "%s: echo: close: %v\n", progName, err)
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

// logError and logInfo log with priority err and info (recommendation 11).
func logError(format string, args ...any) { daemonLog.send(priorityErr, format, args...) }
func logInfo(format string, args ...any)  { daemonLog.send(priorityInfo, format, args...) }
