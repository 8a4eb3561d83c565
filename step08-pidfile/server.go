package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
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
	lock     *os.File // the locked pid file: only one copy runs
}

// runServer sets the server up, tells the launcher how that went, and
// serves. It returns only when the server fails.
func runServer(cfg config) error {
	srv, err := startServer(cfg)
	notifyLauncher(err)
	if err != nil {
		os.Exit(1) // the launcher prints the reason
	}
	// The lock lasts as long as the file stays open. Closing it, or letting
	// the garbage collector close it once nothing refers to it, would let a
	// second copy start.
	defer srv.lock.Close()
	return srv.serve()
}

// startServer makes the process a daemon and listens.
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

// logError reports a failure of the running server. It writes to standard
// error, which is /dev/null since recommendation 6: until step 11 sends
// them to syslog, these messages are lost.
func logError(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", progName, fmt.Sprintf(format, args...))
}
