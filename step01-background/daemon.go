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
	"unicode"
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

// reexec starts this program's own binary again in role: Go's stand-in for
// fork(). The new process gets files[i] as its descriptor i, and sys
// applies its attributes between the fork and the exec.
//
// It runs /proc/self/exe rather than the path in os.Args[0]: the binary may
// have been deleted since it started, as "go run" deletes its temporary
// binary when the launcher exits, and /proc/self/exe still reaches it.
func reexec(role string, files []uintptr, sys *syscall.SysProcAttr) (int, error) {
	env := append(os.Environ(), roleEnv+"="+role)
	if role == roleWorker {
		// A worker echoes one connection in one goroutine: one P is all it
		// needs, and each P it does not make saves memory while it waits
		// (PERFORMANCE.md). The runtime reads the first GOMAXPROCS in the
		// environment, so this one goes first.
		env = append([]string{"GOMAXPROCS=1"}, env...)
	}
	return syscall.ForkExec("/proc/self/exe", os.Args, &syscall.ProcAttr{
		Env:   env,
		Files: files,
		Sys:   sys,
	})
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

// oneLine escapes the control characters in s, a newline above all, so
// that a message stays one line whatever path it quotes: the launcher reads
// one line, and a newline in a log could start a forged entry.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	quoted := strconv.Quote(s)
	return quoted[1 : len(quoted)-1]
}
