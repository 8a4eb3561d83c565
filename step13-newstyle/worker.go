package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
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
	pid, err := reexec(roleWorker, []uintptr{0, 1, 2, uintptr(conn)}, nil)
	if errors.Is(err, unix.EBADF) {
		// ForkExec's child first moves its status pipe above the highest
		// descriptor it passes on. When conn is the last descriptor that
		// RLIMIT_NOFILE allows, there is none above it, and dup3 fails with
		// EBADF: the server is out of descriptors. Say so (recommendation 11).
		err = fmt.Errorf("%w: no descriptor free above the connection's (%d) for exec", unix.EMFILE, conn)
	}
	return pid, err
}

// limitIdle gives the connection conn a time limit on every read and
// write: a read that waits longer than idle for a byte, or a write that
// waits as long for room, fails with EAGAIN, and the worker ends the
// connection. A client that sends nothing, or never reads its echo, cannot
// hold a worker, one of the -maxworkers, for ever. The limits are the
// socket's own options, so the worker inherits them at no cost.
func limitIdle(conn int, idle time.Duration) error {
	tv := unix.NsecToTimeval(idle.Nanoseconds())
	for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if err := unix.SetsockoptTimeval(conn, unix.SOL_SOCKET, opt, &tv); err != nil {
			return fmt.Errorf("set the idle limit: %w", err)
		}
	}
	return nil
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
// of them cannot flood the log, and tells how many it held back. What it
// holds back is due a second after the last message: the main loop then
// logs it (logHeldTrouble), and so does shutdown.
func (s *server) logTrouble(format string, args ...any) {
	if time.Since(s.lastTrouble) < time.Second {
		s.heldTrouble++
		s.lastHeld = fmt.Sprintf(format, args...)
		if s.troubleDue == nil {
			s.troubleDue = time.After(time.Until(s.lastTrouble.Add(time.Second)))
		}
		return
	}
	msg := fmt.Sprintf(format, args...)
	if s.heldTrouble > 0 {
		msg += fmt.Sprintf(" (and %d more since the last such message)", s.heldTrouble)
	}
	logError("%s", msg)
	s.lastTrouble, s.heldTrouble, s.troubleDue = time.Now(), 0, nil
}

// logHeldTrouble logs the last message that logTrouble held back, with
// how many more it held back before it, so that no trouble goes unlogged
// for more than a second, even when no more comes.
func (s *server) logHeldTrouble() {
	s.troubleDue = nil
	if s.heldTrouble == 0 {
		return
	}
	msg := s.lastHeld
	if s.heldTrouble > 1 {
		msg += fmt.Sprintf(" (and %d more since the last such message)", s.heldTrouble-1)
	}
	logError("%s", msg)
	s.lastTrouble, s.heldTrouble = time.Now(), 0
}

// stopWorkers ends the workers still running and reaps them: SIGTERM first,
// then, after workerGrace, SIGKILL, which no worker can ignore. It returns
// how many it ended.
func (s *server) stopWorkers() (ended int) {
	s.reap() // those that have exited already are not for it to end
	ended = len(s.workers)
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
	return ended
}

// runWorker echoes the connection on descriptor 3, then closes it. A
// client that goes away before it has read its echo (EPIPE, ECONNRESET),
// or lets nothing move for the idle limit (EAGAIN, from the timeouts that
// limitIdle set on the socket), is no error: any client could otherwise
// fill the log. Its messages go to standard error, the server's, with its
// pid: the journal names the process that opened the stream, the server.
func runWorker() (code int) {
	defer recoverWorker(&code)
	err := echo(connFd)
	if err == nil {
		err = unix.Close(connFd)
	}
	if err != nil && !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET) && !errors.Is(err, unix.EAGAIN) {
		logError("worker %d: echo: %v", os.Getpid(), err)
		return 1
	}
	return 0
}

// recoverWorker, deferred by runWorker, logs a panic of the worker as one
// line with the worker's pid, the panic's value and its stack, and makes
// the worker exit with status 2, as an unrecovered panic does: the Go
// runtime's own trace names no process, and every worker writes to the
// same log. (A fatal signal from outside, say kill -SEGV, is no panic: the
// runtime's trace stays without a pid, and the server's message about the
// worker's exit names it.)
func recoverWorker(code *int) {
	v := recover()
	if v == nil {
		return
	}
	logError("worker %d: panic: %v\n%s", os.Getpid(), v, debug.Stack())
	*code = 2
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
