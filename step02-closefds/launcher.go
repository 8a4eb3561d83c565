package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

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
	_, err = reexec(roleServer, []uintptr{0, 1, 2, notify.Fd()}, nil)
	notify.Close() // now only the server holds the writing end
	if err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	pid, err := awaitReady(ready)
	if err != nil {
		return err
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
// pipe: "ready PID" once it listens, or the reason it could not start.
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
	return 0, errors.New(strings.TrimPrefix(line, "error: "))
}

// notifyLauncher tells the launcher how the server's start went, and closes
// the pipe: after this the launcher exits.
func notifyLauncher(startErr error) {
	notify := os.NewFile(notifyFd, "notify")
	defer notify.Close()
	if startErr != nil {
		fmt.Fprintf(notify, "error: %s\n", oneLine(startErr.Error()))
		return
	}
	fmt.Fprintf(notify, "ready %d\n", os.Getpid())
}
