// Package launch starts a program under test as a shell or a service
// manager would, and observes it: the sandbox (a short directory with the
// socket, pid file and log, and the marker that finds every process
// started from it), the launcher's run, finding the server through its
// socket (SO_PEERCRED), the echo client, the waits and their time limits,
// and snapshots of /proc. The program is always an input, a path to any
// executable: nothing here assumes it is the Go package of a step.
//
// The step tests (internal/daemontest), the tour, the labs and the bench
// use it; internal/property judges what it observes.
package launch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"daemon-steps/internal/proc"
	"daemon-steps/internal/reaper"
)

// Time limits, the one place for them: they bound waits that normally end
// in milliseconds, so that a broken program fails its test, or costs the
// tour or the bench seconds, instead of hanging it.
const (
	// LaunchTimeout is how long a launcher may take to return
	// (PROPERTIES.md: "returns to the shell within 2 s").
	LaunchTimeout = 2 * time.Second
	// Settle bounds waiting for something the kernel or the server does on
	// its own: a parent gone, a signal handled, a zombie reaped.
	Settle = 2 * time.Second
	// IOTimeout bounds one echo exchange.
	IOTimeout = 10 * time.Second
	// CleanupTimeout bounds killing and reaping what a launch leaves.
	CleanupTimeout = 5 * time.Second
	// Poll is how often a wait looks again.
	Poll = 5 * time.Millisecond
	// StartTimeout bounds the bench's wait for a server that is not a
	// daemon (it does not return) to accept its first connection.
	StartTimeout = 5 * time.Second
	// BuildTimeout bounds one go build or cc.
	BuildTimeout = 2 * time.Minute
)

// MarkerEnv is set in the environment of every process a sandbox launches,
// to the sandbox's directory. The processes those start inherit it; that is
// how cleanup finds every process a launch left, however far it has
// wandered from its launcher (reaper.KillMarked).
const MarkerEnv = "DAEMON_STEPS_SANDBOX"

// Marker is the environment entry of the sandbox dir, as it appears in
// /proc/PID/environ (NUL-terminated), for reaper.Marked and KillMarked.
func Marker(dir string) string { return MarkerEnv + "=" + dir + "\x00" }

// MarkedEnv returns the calling process's environment with the marker of
// the sandbox dir added, for an exec.Cmd.
func MarkedEnv(dir string) []string { return append(os.Environ(), MarkerEnv+"="+dir) }

// LeakedFd is the descriptor at which a launch hands the launcher an open
// file without close-on-exec, as a shell does with "9<some/file".
const LeakedFd = 9

// PipeFd is the descriptor at which a launch also hands the launcher the
// writing end of a pipe without close-on-exec: above 1024, the usual soft
// limit on descriptors, where a loop up to "ulimit -n" stops, though a
// parent that raised its own limit (every Go program does) may leave one
// open there.
const PipeFd = 1500

// Paths are one sandbox's files: a short temporary directory holding the
// program's socket, pid file and log, and the socket where a stand-in
// syslog daemon may listen.
type Paths struct {
	Dir     string // a short temporary directory
	Socket  string // Dir/s.sock
	PidFile string // Dir/pid
	Log     string // Dir/log
	Syslog  string // Dir/syslog.sock: nothing listens there unless bound
}

// NewPaths names the sandbox files in dir.
func NewPaths(dir string) Paths {
	return Paths{
		Dir:     dir,
		Socket:  filepath.Join(dir, "s.sock"),
		PidFile: filepath.Join(dir, "pid"),
		Log:     filepath.Join(dir, "log"),
		Syslog:  filepath.Join(dir, "syslog.sock"),
	}
}

// Args returns the flags that point the program at p, for each flag in
// flags that the program has.
func (p Paths) Args(flags map[string]bool) []string {
	var args []string
	for _, f := range []struct{ name, value string }{
		{"socket", p.Socket}, {"pidfile", p.PidFile}, {"syslog", p.Syslog}, {"log", p.Log},
	} {
		if flags[f.name] {
			args = append(args, "-"+f.name, f.value)
		}
	}
	return args
}

// ProgramFlags asks the program for its usage message and returns the
// names of the flags it lists ("  -socket path" in the flag package's
// usage), so that a launch passes only flags the program has. env is the
// environment of the -h run (a sandbox's, so that cleanup finds it).
func ProgramFlags(ctx context.Context, binary string, env []string) (map[string]bool, error) {
	cmd := exec.CommandContext(ctx, binary, "-h")
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := reaper.Start(cmd); err != nil {
		return nil, fmt.Errorf("%s -h: %w", binary, err)
	}
	reaper.Wait(cmd) // -h may exit 0 or 2: the usage is what counts
	names := make(map[string]bool)
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "  -"); ok && len(strings.Fields(rest)) > 0 {
			names[strings.Fields(rest)[0]] = true
		}
	}
	if !names["socket"] {
		usage, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
		return nil, fmt.Errorf("%s -h lists no -socket flag: %q", binary, usage)
	}
	return names, nil
}

// Echo sends data to the server at socket on a connection of its own,
// closes its writing side, and returns all that comes back until the
// server closes.
func Echo(socket string, data []byte) ([]byte, error) {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(IOTimeout)); err != nil {
		return nil, err
	}
	sent := make(chan error, 1)
	go func() {
		_, err := conn.Write(data)
		sent <- errors.Join(err, conn.CloseWrite())
	}()
	got, readErr := io.ReadAll(conn)
	return got, errors.Join(readErr, <-sent)
}

// EchoLine sends line with Echo and requires the same line back.
func EchoLine(socket, line string) error {
	got, err := Echo(socket, []byte(line))
	if err != nil {
		return err
	}
	if string(got) != line {
		return fmt.Errorf("sent %q, got %q back", line, got)
	}
	return nil
}

// HoldConnection opens a connection to the server and exchanges one byte
// over it, so that a worker is known to serve it, and returns it open.
func HoldConnection(socket string) (net.Conn, error) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(IOTimeout))
	if _, err := conn.Write([]byte("x")); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := io.ReadFull(conn, make([]byte, 1)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("the echo of one byte: %w", err)
	}
	return conn, nil
}

// WaitUntil polls cond until it holds, timeout passes or ctx ends, and
// reports whether it held.
func WaitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(Poll)
	}
	return true
}

// Alive reports whether pid exists and is not a zombie whose threads have
// all exited.
func Alive(pid int) bool {
	st, err := proc.ReadStat(pid)
	if err != nil {
		return false
	}
	if st.State != 'Z' && st.State != 'X' {
		return true
	}
	// A process's first thread shows as a zombie as soon as it has exited,
	// while the other threads may still be dying and still hold the
	// process's files: a lock, say. It is gone when no other thread is left.
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return err == nil && len(tasks) > 1
}

// Exists reports whether there is a file (of any type) at path.
func Exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Leak makes cmd inherit f, without close-on-exec, as its descriptor
// LeakedFd, as a shell does with "9<file". ExtraFiles[i] becomes
// descriptor 3+i; the others stay closed.
func Leak(cmd *exec.Cmd, f *os.File) {
	if len(cmd.ExtraFiles) < LeakedFd-2 {
		cmd.ExtraFiles = append(cmd.ExtraFiles, make([]*os.File, LeakedFd-2-len(cmd.ExtraFiles))...)
	}
	cmd.ExtraFiles[LeakedFd-3] = f
}

// LeakPipe makes cmd inherit the writing end of a new pipe, without
// close-on-exec, as its descriptor PipeFd, and returns the pipe's name as
// /proc/PID/fd shows it, "pipe:[INODE]", and the pipe's two ends, for the
// caller to close once it no longer looks for the pipe. It leaks nothing,
// and returns "", when the descriptor limit leaves no room to move
// descriptors above PipeFd, as the fork does.
func LeakPipe(cmd *exec.Cmd) (name string, ends []*os.File, err error) {
	var limit unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &limit); err != nil {
		return "", nil, fmt.Errorf("read the descriptor limit: %w", err)
	}
	if limit.Cur <= PipeFd+16 {
		return "", nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return "", nil, fmt.Errorf("pipe: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(w.Fd()), &st); err != nil {
		r.Close()
		w.Close()
		return "", nil, fmt.Errorf("fstat the pipe: %w", err)
	}
	if len(cmd.ExtraFiles) < PipeFd-2 {
		cmd.ExtraFiles = append(cmd.ExtraFiles, make([]*os.File, PipeFd-2-len(cmd.ExtraFiles))...)
	}
	cmd.ExtraFiles[PipeFd-3] = w
	return fmt.Sprintf("pipe:[%d]", st.Ino), []*os.File{r, w}, nil
}

// limitedBuffer keeps the first limit bytes written to it, safely for a
// writer and a reader in different goroutines.
type limitedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Result is how a launcher ended.
type Result struct {
	Pid    int    // the launcher's pid
	Code   int    // its exit status; -1 if a signal ended it
	Stdout string // what it printed
	Stderr string
}

// RunLauncher starts cmd, a launcher, and waits up to LaunchTimeout for it
// to return. Its output goes to files in dir unless the caller has set
// Stdout and Stderr: a server that keeps the launcher's standard output
// (before step 06) would hold a pipe open, and the wait with it. A
// launcher that does not return in time is left running, for the caller
// to kill; the error says so.
func RunLauncher(ctx context.Context, cmd *exec.Cmd, dir string) (Result, error) {
	var out, errOut *os.File
	var err error
	if cmd.Stdout == nil {
		if out, err = os.CreateTemp(dir, "stdout"); err != nil {
			return Result{}, err
		}
		defer out.Close()
		cmd.Stdout = out
	}
	if cmd.Stderr == nil {
		if errOut, err = os.CreateTemp(dir, "stderr"); err != nil {
			return Result{}, err
		}
		defer errOut.Close()
		cmd.Stderr = errOut
	}
	if err := reaper.Start(cmd); err != nil {
		return Result{}, err
	}
	r := Result{Pid: cmd.Process.Pid}
	done := make(chan error, 1)
	go func() { done <- reaper.Wait(cmd) }()
	select {
	case <-done:
	case <-time.After(LaunchTimeout):
		return r, fmt.Errorf("launcher %d did not return within %v: %w", r.Pid, LaunchTimeout, errTimedOut)
	case <-ctx.Done():
		return r, ctx.Err()
	}
	r.Code = cmd.ProcessState.ExitCode()
	r.Stdout, r.Stderr = readBack(out), readBack(errOut)
	return r, nil
}

// errTimedOut is in the error of a launcher that did not return in time.
var errTimedOut = errors.New("timed out")

// readBack returns what was written to f, which may be nil.
func readBack(f *os.File) string {
	if f == nil {
		return ""
	}
	b, _ := os.ReadFile(f.Name())
	return string(b)
}

// defaultSignals are the signals whose default action the properties are
// about: a server must ignore them itself (recommendation 10), or die of
// them where a step says it does.
var defaultSignals = []os.Signal{unix.SIGHUP, unix.SIGPIPE, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM,
	unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGUSR1, unix.SIGUSR2}

// ResetInheritedSignals makes every program this process launches start
// with defaultSignals at their default action, whatever this process
// inherited. A test run from a shell started with nohup inherits SIGHUP
// ignored, and exec passes an ignored signal on, to the launcher and so
// to the server: a server that never ignores SIGHUP itself would pass
// recommendation 10's test. exec resets a caught signal to its default, so
// this process catches (and drops) each signal it inherited ignored, which
// keeps it as deaf to them as before.
func ResetInheritedSignals() {
	var ignored []os.Signal
	for _, sig := range defaultSignals {
		if signal.Ignored(sig) {
			ignored = append(ignored, sig)
		}
	}
	if len(ignored) > 0 {
		signal.Notify(make(chan os.Signal, 1), ignored...)
	}
}
