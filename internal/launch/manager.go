package launch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"daemon-steps/internal/peercred"
	"daemon-steps/internal/proc"
	"daemon-steps/internal/syslogsink"
)

// unitFile is the file whose presence in a step's directory says that the
// step is a new-style daemon (daemon(7)): a service manager starts it and
// it stays in the foreground, so no launcher returns.
const unitFile = "echod.service"

// SocketActivate is the service manager's stand-in: systemd's own tool for
// socket activation, which binds the socket, then executes the program in
// its place, with the socket as descriptor 3 and LISTEN_PID, LISTEN_FDS
// and the variables named with -E set (systemd-socket-activate(1)).
const SocketActivate = "systemd-socket-activate"

// ErrNoManager says that a new-style step cannot be toured here: the
// tour starts it as a service manager would, with systemd-socket-activate.
var ErrNoManager = errors.New(SocketActivate + " is missing (apt-get install systemd): the tour starts a new-style daemon with it")

// isNewStyle reports whether the step in dir ships a unit file.
func isNewStyle(dir string) bool { return Exists(filepath.Join(dir, unitFile)) }

// startManaged starts a new-style daemon as a service manager would: under
// systemd-socket-activate, which hands it the socket, with a datagram
// socket of the tour's as $NOTIFY_SOCKET, under umask 000 as the classic
// steps are (a manager's default is 0022; UMask= sets it). It stays in the
// foreground, a child of the tour, in a session of its own, with standard
// output and error in a file, as a manager's journal would take them. No
// terminal and no descriptor left open: a manager gives neither.
func (sb *Session) startManaged(ctx context.Context) error {
	activate, err := exec.LookPath(SocketActivate)
	if err != nil {
		return ErrNoManager
	}
	notifyPath := filepath.Join(sb.Dir, "notify.sock")
	if sb.NotifySink, err = syslogsink.Listen(notifyPath); err != nil {
		return err
	}
	out, err := os.Create(filepath.Join(sb.Dir, "stderr"))
	if err != nil {
		return err
	}
	defer out.Close()
	sb.stderr = out.Name()
	args := []string{"-c", `umask 000; exec "$0" "$@"`, activate, "-l", sb.Socket,
		"-E", "NOTIFY_SOCKET=" + notifyPath, "-E", MarkerEnv + "=" + sb.Dir, sb.Binary}
	cmd := exec.Command("/bin/sh", append(args, sb.FlagArgs...)...)
	cmd.Dir = sb.Dir
	cmd.Env = MarkedEnv(sb.Dir)
	cmd.Stdout, cmd.Stderr = out, out
	// A session of its own, with no controlling terminal, as systemd
	// starts every service.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Not claimed for cmd.Wait: the server is reaped as any server is, by
	// awaitServerEnd on SIGTERM or by Stop.
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", SocketActivate, err)
	}
	sb.Manager = strings.Join(append([]string{SocketActivate}, cmd.Args[4:]...), " ")
	sb.Server = cmd.Process.Pid // the shell execs the manager, which execs the server
	ready := WaitUntil(ctx, LaunchTimeout, func() bool {
		pid, err := peercred.ListenerPid(sb.Socket)
		return err == nil && pid == sb.Server && sb.Notified("READY=1")
	})
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case !ready:
		return fmt.Errorf("no READY=1 came to $NOTIFY_SOCKET within %v, and %s says %q", LaunchTimeout, filepath.Base(sb.stderr), readTail(sb.stderr))
	}
	return nil
}

// Notified reports whether the server sent the sd_notify assignment want
// (such as "READY=1") to the tour's $NOTIFY_SOCKET.
func (o *Seen) Notified(want string) bool {
	for _, msg := range o.Notifications() {
		for _, line := range strings.Split(msg, "\n") {
			if line == want {
				return true
			}
		}
	}
	return false
}

// Notifications returns the datagrams that came to $NOTIFY_SOCKET.
func (o *Seen) Notifications() []string {
	if o.NotifySink == nil {
		return nil
	}
	return o.NotifySink.Messages()
}

// Stderr returns what a new-style server wrote to its standard error.
func (o *Seen) Stderr() string {
	if o.stderr == "" {
		return ""
	}
	b, _ := os.ReadFile(o.stderr)
	return string(b)
}

// readTail returns the last line of the file at path.
func readTail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// StartActivated starts argv as a socket-activated service, the way
// daemon(7)'s new-style list expects one: under systemd-socket-activate,
// listening on socket, in a session of its own, under umask 027, with
// $NOTIFY_SOCKET set to notify and $MANAGERPID to the caller's pid (as
// systemd --user sets it), and standard error on stderr. The activator
// starts argv on the first connection, so it connects once and waits for
// the exec, for as long as ctx allows. The caller stops the process
// (cmd.Process.Kill, cmd.Wait): its pid is argv[0]'s.
func StartActivated(ctx context.Context, socket, notify string, stderr *os.File, argv ...string) (*exec.Cmd, error) {
	activate, err := exec.LookPath(SocketActivate)
	if err != nil {
		return nil, ErrNoManager
	}
	args := append([]string{"-c", `umask 027; exec "$0" "$@"`, activate, "-l", socket,
		"-E", "NOTIFY_SOCKET=" + notify, "-E", "MANAGERPID=" + strconv.Itoa(os.Getpid())}, argv...)
	cmd := exec.Command("/bin/sh", args...) // ctx bounds the start, not the process
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", SocketActivate, err)
	}
	// The activator sets LISTEN_PID for the program as it execs it; sh
	// and the activator have no LISTEN_PID of their own.
	listenPid := "LISTEN_PID=" + strconv.Itoa(cmd.Process.Pid)
	started := WaitUntil(ctx, LaunchTimeout, func() bool {
		if conn, err := net.Dial("unix", socket); err == nil {
			conn.Close()
		}
		env, _ := proc.Environ(cmd.Process.Pid)
		return slices.Contains(env, listenPid)
	})
	if !started {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%s did not start %s within %v of a connection to %s", SocketActivate, argv[0], LaunchTimeout, socket)
	}
	return cmd, nil
}
