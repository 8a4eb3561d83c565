package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// notifyFd is the descriptor on which a re-executed server finds the pipe
// back to the launcher, to say whether it started (systemd's daemon(7)
// calls this notifying the original process).
const notifyFd = 3

// runLauncher starts the server in the background and returns once it
// listens, so that the shell gets its prompt back (recommendation 1). The
// server outlives the launcher: when the launcher exits, init, or the
// nearest child subreaper, becomes the server's parent.
func runLauncher(cfg config) error {
	if err := markInheritedCloseOnExec(); err != nil {
		return err
	}
	ready, notify, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("notification pipe: %w", err)
	}
	defer ready.Close()
	// Recommendation 6: the daemon's standard input, output and error are
	// /dev/null rather than the launcher's. Otherwise it would keep the
	// terminal open after the user has gone, and a caller reading the
	// launcher's output, as out=$(echod) does, would wait for the daemon to
	// exit. The server finds them open, so nothing it opens later lands on
	// 0, 1 or 2 by accident.
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	// Until the server is ready, though, its standard error is the
	// notification pipe: a Go runtime that dies before main runs (it could
	// not create a thread, say) writes why there, and the launcher prints
	// it. The server points descriptor 2 at the -log file when it notifies
	// (recommendation 11), or at /dev/null if it has no log file yet.
	//
	// Recommendation 3: the session leader calls setsid() between fork and
	// exec, so it starts a new session, with no controlling terminal:
	// hanging up the launcher's terminal cannot reach the server, and
	// reading from the terminal cannot stop it.
	leader, err := reexec(roleLeader, []uintptr{null.Fd(), null.Fd(), notify.Fd(), notify.Fd()}, &syscall.SysProcAttr{Setsid: true})
	notify.Close() // now only the session leader and the server hold the writing end
	if err != nil {
		return fmt.Errorf("start session leader: %w", err)
	}
	pid, err := awaitReady(ready)
	if err != nil {
		return err
	}
	// The session leader exits as soon as it has started the server. Reap
	// it, so that the server's parent is init by the time the shell gets
	// its prompt back.
	if _, err := unix.Wait4(leader, nil, 0, nil); err != nil {
		return fmt.Errorf("wait for session leader %d: %w", leader, err)
	}
	fmt.Printf("%s: server %d listens on %s\n", progName, pid, oneLine(cfg.socket))
	return nil
}

// markInheritedCloseOnExec keeps the descriptors that the launcher
// inherited, beyond standard input, output and error, from reaching the
// server (recommendation 2). A shell or a parent program may have left
// files, sockets or pipes open without close-on-exec, and exec would pass
// them on: the daemon would hold them for as long as it lives.
//
// Closing them here would also close the Go runtime's own descriptors (its
// epoll instance, for one), so they are marked close-on-exec instead: the
// launcher keeps them until it exits, and the server never receives them.
// Every descriptor that Go opens is close-on-exec already.
func markInheritedCloseOnExec() error {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("mark inherited descriptors close-on-exec: %w", err)
	}
	return nil
}

// awaitReady reads the one line that the server writes on the notification
// pipe: "ready PID" once it listens, or the reason it could not start,
// which may be the first line of what the Go runtime wrote as it died.
func awaitReady(r io.Reader) (int, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if line == "" {
		if err == nil || errors.Is(err, io.EOF) {
			return 0, errors.New("the server exited before it was ready")
		}
		return 0, fmt.Errorf("wait for the server: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	if rest, ok := strings.CutPrefix(line, "ready "); ok {
		pid, err := strconv.Atoi(rest)
		if err != nil {
			return 0, fmt.Errorf("the server reported %q", line)
		}
		return pid, nil
	}
	if reason, ok := strings.CutPrefix(line, "error: "); ok {
		return 0, errors.New(reason)
	}
	return 0, fmt.Errorf("the server died before it was ready: %s", line)
}

// notifyLauncher tells the launcher how the server's start went, and closes
// the pipe: after this the launcher exits.
func notifyLauncher(startErr error) {
	releaseStderr()
	notify := os.NewFile(notifyFd, "notify")
	defer notify.Close()
	if startErr != nil {
		fmt.Fprintf(notify, "error: %s\n", oneLine(startErr.Error()))
		return
	}
	fmt.Fprintf(notify, "ready %d\n", os.Getpid())
}

// releaseStderr points descriptor 2 at the -log file (recommendation 11),
// or at /dev/null as 0 and 1 are, if it is still the notification pipe: the launcher
// stops reading once it has been told, and a later write to the pipe would
// fail. A descriptor 2 that already moved elsewhere stays.
func releaseStderr() {
	var stderr, notify unix.Stat_t
	if unix.Fstat(2, &stderr) != nil || unix.Fstat(notifyFd, &notify) != nil {
		return
	}
	if stderr.Dev == notify.Dev && stderr.Ino == notify.Ino {
		daemonLog.takeStderr() // the -log file (recommendation 11)
	}
}
