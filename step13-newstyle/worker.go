package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// connFd is the descriptor on which a worker finds its connection.
const connFd = 3

// echoBuffer is how much a worker reads and writes back at a time.
const echoBuffer = 64 << 10

// workerGrace is how long shutdown waits for the workers to end on SIGTERM
// before it kills them.
const workerGrace = time.Second

// startWorker re-executes this program as a worker that echoes the
// connection conn: where the C server forks a child per connection. The
// worker gets the connection as descriptor 3; the listening socket, like
// every descriptor this program opens, is close-on-exec and stays behind.
// It returns the worker's pid.
func startWorker(conn int) (int, error) {
	return reexec(roleWorker, []uintptr{0, 1, 2, uintptr(conn)}, nil)
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
