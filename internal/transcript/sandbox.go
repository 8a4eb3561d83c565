package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"daemon-steps/internal/pty"

	"golang.org/x/sys/unix"
)

// This program plays two roles: the runner, and, inside each sandbox, its
// init.
const (
	roleEnv    = "TRANSCRIPT_ROLE"
	roleInit   = "init"
	sandboxEnv = "TRANSCRIPT_SANDBOX"
	// firstPid is where the namespace's pids start: at least three digits
	// each, so that match.go takes them for variables.
	firstPid = 10000
)

// shellLoop is the shell every README's commands run in. It reads one
// command at a time from descriptor 3, NUL-terminated, runs it with eval
// (so variables, cd and background jobs carry over, as in a terminal),
// and prints a marker with its status. Job control is on (set -m), as in
// an interactive shell: each command runs in a process group of its own,
// in the terminal's foreground until it ends. $? at the start of a command is the
// previous command's status, as when a student types "echo $?". The
// commands do not get descriptor 3.
const shellLoop = `set -m
__st=0
__setst() { return "$1"; }
while IFS= read -r -d '' __cmd <&3; do
  __setst "$__st"
  eval "$__cmd" 3<&-
  __st=$?
  printf '\001END %d\001\n' "$__st"
done
`

var endMarker = regexp.MustCompile("\x01END (\\d+)\x01\r?\n")

// runFile runs one README's commands in a sandbox of its own.
func runFile(root string, cmds []command, timeout time.Duration, verbose bool) (err error) {
	if len(cmds) == 0 {
		return nil
	}
	sandbox, err := os.MkdirTemp("", "transcript")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sandbox)
	if err := os.Chmod(sandbox, 0o777|os.ModeSticky); err != nil { // /tmp's own mode: os.Chmod ignores 0o1000
		return err
	}
	term, err := pty.Open()
	if err != nil {
		return err
	}
	defer term.Master.Close()
	// A wide window, so that ps does not cut long command lines.
	if err := unix.IoctlSetWinsize(int(term.Master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 300}); err != nil {
		return fmt.Errorf("terminal size: %w", err)
	}
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer cmdW.Close()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	initCmd := exec.Command(self)
	initCmd.Dir = root
	initCmd.Env = append(os.Environ(), roleEnv+"="+roleInit, sandboxEnv+"="+sandbox,
		"LC_ALL=C", "PAGER=cat", "GIT_PAGER=cat", "NO_COLOR=1")
	initCmd.Stdin, initCmd.Stdout, initCmd.Stderr = term.Slave, term.Slave, term.Slave
	initCmd.ExtraFiles = []*os.File{cmdR}
	initCmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid:     true,
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS,
		// If the runner dies (Ctrl-C), init dies, and with it the
		// namespace and everything in it.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := initCmd.Start(); err != nil {
		return fmt.Errorf("start the sandbox: %w", err)
	}
	term.Slave.Close()
	cmdR.Close()
	defer func() {
		// Closing the commands' pipe ends the shell; init then exits, and
		// the kernel kills whatever is left in the namespace.
		cmdW.Close()
		done := make(chan error, 1)
		go func() { done <- initCmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			initCmd.Process.Kill()
			<-done
		}
	}()

	out := make(chan []byte, 64)
	go func() {
		defer close(out)
		buf := make([]byte, 64<<10)
		for {
			n, err := term.Master.Read(buf)
			if n > 0 {
				out <- bytes.Clone(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()

	b := bindings{}
	var pending []byte
	for _, c := range cmds {
		text := substitute(c.text, b)
		if verbose {
			fmt.Printf("%s:%d: $ %s\n", c.file, c.line, text)
		}
		if _, err := io.WriteString(cmdW, text+"\x00"); err != nil {
			return fmt.Errorf("%s:%d: %s: the shell is gone: %w", c.file, c.line, c.text, err)
		}
		got, status, rest, err := awaitEnd(out, pending, timeout)
		pending = rest
		if err != nil {
			return fmt.Errorf("%s:%d: $ %s\n    %w\n    it printed:\n%s", c.file, c.line, text, err, quoteLines(got))
		}
		if verbose {
			fmt.Print(quoteLines(got))
		}
		if c.status != anyStatus && status != c.status {
			return fmt.Errorf("%s:%d: $ %s\n    exited with status %d; the README shows %d\n    it printed:\n%s",
				c.file, c.line, text, status, c.status, quoteLines(got))
		}
		if !c.checkOutput {
			continue
		}
		nb, err := matchOutput(c.want, got, b)
		if err != nil {
			return fmt.Errorf("%s:%d: $ %s\n    the output is not what the README shows: %w\n    the README shows:\n%s    it printed:\n%s",
				c.file, c.line, text, err, quoteLines(c.want), quoteLines(got))
		}
		b = nb
	}
	return nil
}

// awaitEnd collects output up to the next end marker.
func awaitEnd(out <-chan []byte, pending []byte, timeout time.Duration) (lines []string, status int, rest []byte, err error) {
	deadline := time.After(timeout)
	buf := pending
	for {
		if loc := endMarker.FindSubmatchIndex(buf); loc != nil {
			status, _ = strconv.Atoi(string(buf[loc[2]:loc[3]]))
			return splitLines(buf[:loc[0]]), status, bytes.Clone(buf[loc[1]:]), nil
		}
		select {
		case chunk, ok := <-out:
			if !ok {
				return splitLines(buf), 0, nil, errors.New("the shell exited")
			}
			buf = append(buf, chunk...)
		case <-deadline:
			return splitLines(buf), 0, nil, fmt.Errorf("still running after %v", timeout)
		}
	}
}

func splitLines(b []byte) []string {
	s := strings.ReplaceAll(string(b), "\r", "")
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func quoteLines(lines []string) string {
	if len(lines) == 0 {
		return "        (nothing)\n"
	}
	var sb strings.Builder
	for _, l := range lines {
		sb.WriteString("        | " + l + "\n")
	}
	return sb.String()
}

// runInit is the sandbox's first process: it makes /proc and /tmp its
// own, starts the shell, and reaps every process that comes to it until
// the shell exits.
func runInit() int {
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "transcript init: %s: %v\n", what, err)
		return 125
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail("make mounts private", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fail("mount /proc", err)
	}
	root, err := os.Getwd()
	if err != nil {
		return fail("working directory", err)
	}
	// A repository cloned under /tmp must stay visible under the private
	// /tmp: keep a handle on it, and bind it back at its own path.
	rootFd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("open the repository", err)
	}
	if err := unix.Mount(os.Getenv(sandboxEnv), "/tmp", "", unix.MS_BIND, ""); err != nil {
		return fail("private /tmp", err)
	}
	if root == "/tmp" || strings.HasPrefix(root, "/tmp/") {
		if err := os.MkdirAll(root, 0o755); err != nil {
			return fail("the repository under the private /tmp", err)
		}
		if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", rootFd), root, "", unix.MS_BIND, ""); err != nil {
			return fail("the repository under the private /tmp", err)
		}
		if err := os.Chdir(root); err != nil {
			return fail("the repository under the private /tmp", err)
		}
	}
	unix.Close(rootFd)
	if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(firstPid-1)), 0); err != nil {
		return fail("number pids from 10000", err)
	}
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, roleEnv+"=") && !strings.HasPrefix(e, sandboxEnv+"=") {
			env = append(env, e)
		}
	}
	shell, err := syscall.ForkExec("/bin/bash", []string{"bash", "--norc", "--noprofile", "-c", shellLoop},
		&syscall.ProcAttr{Env: env, Files: []uintptr{0, 1, 2, 3},
			// The shell leads a session whose controlling terminal is the
			// pseudo-terminal, as a shell in a terminal window does.
			Sys: &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}})
	if err != nil {
		return fail("start bash", err)
	}
	unix.Close(3)
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fail("wait", err)
		}
		if pid == shell {
			return ws.ExitStatus()
		}
	}
}
