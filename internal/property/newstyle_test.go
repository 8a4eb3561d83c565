package property

import (
	"context"
	"daemon-steps/internal/launch"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"daemon-steps/internal/proc"
)

// startActivated starts argv under systemd-socket-activate with
// StartActivated, in a short temporary directory, with standard error on
// a pipe that the test holds open, and stops it when the test ends.
func startActivated(t *testing.T, argv ...string) int {
	t.Helper()
	if _, err := exec.LookPath(launch.SocketActivate); err != nil {
		t.Skipf("%s is not installed (apt-get install systemd): it is what starts a socket-activated process here", launch.SocketActivate)
	}
	dir, err := os.MkdirTemp("", "") // short: a socket path has 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	cmd, err := launch.StartActivated(t.Context(), filepath.Join(dir, "s.sock"), filepath.Join(dir, "notify.sock"), w, argv...)
	w.Close()
	require.NoErrorf(t, err, "start %v under %s", argv, launch.SocketActivate)
	t.Cleanup(func() { killGroup(cmd) })
	return cmd.Process.Pid
}

// requireNewStyle checks s against daemon(7)'s new-style list and requires
// the marks want, in the order of NewStyleProperties, and one line of
// evidence for each.
func requireNewStyle(t *testing.T, what string, s *Subject, want ...Mark) {
	t.Helper()
	cells := CheckNewStyle(s)
	for k, c := range cells {
		p := NewStyleProperties[k]
		t.Logf("%s: %s %s: mark %d %q (%s) %q", what, p.Label, p.Column, c.Mark, c.Value, c.Why, c.Evidence)
		require.Equalf(t, want[k], c.Mark, "%s, point %s (%s: %s): mark (0 not shown, 1 holds, 2 fails); saw %q, evidence %q; see man 7 daemon, New-Style Daemons",
			what, p.Label, p.Column, p.Claim, c.Value, c.Evidence)
		require.Lenf(t, c.Evidence, 1, "%s, point %s: one line of evidence", what, p.Label)
		require.NotContainsf(t, c.Command, "{pid}", "%s, point %s: the command to see it by hand", what, p.Label)
	}
}

// Test that a process that systemd-socket-activate started, as a service
// manager would, follows every point of daemon(7)'s new-style list that
// /proc can show, and that the same program started from a shell, or
// started by a shell that the activator started, does not.
func TestNewStyleListTellsActivatedFromShellStarted(t *testing.T) {
	pid := startActivated(t, "sleep", "60")
	snap, err := launch.TakeSnapshot(pid)
	require.NoError(t, err)
	s := &Subject{Snap: snap}
	managed, why := LooksManaged(s)
	require.Truef(t, managed, "pid %d, started by %s with MANAGERPID=%d, looks managed: %s", pid, launch.SocketActivate, os.Getpid(), why)
	requireNewStyle(t, "sleep under "+launch.SocketActivate, s, Holds, Holds, Holds, Holds, Holds, Holds)

	// The activator execs sh, which forks sleep: sleep has the variables
	// that name sh, its parent is a shell, and its standard error is
	// still the pipe.
	// NOTIFY_SOCKET is inherited, so e still holds.
	sleep := requireChild(t, startActivated(t, "sh", "-c", "sleep 60; :"), "sleep")
	snap, err = launch.TakeSnapshot(sleep)
	require.NoError(t, err)
	requireNewStyle(t, "sleep forked by an activated sh", &Subject{Snap: snap}, Fails, Fails, Holds, Holds, Holds, Holds)

	// From a shell the test starts in a session of its own, with an
	// environment that names no manager, /dev/null as standard error and
	// umask 022: no manager in sight, and no double fork either.
	cmd := exec.Command("/bin/sh", "-c", "umask 022; sleep 60; :")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { killGroup(cmd) })
	sleep = requireChild(t, cmd.Process.Pid, "sleep")
	snap, err = launch.TakeSnapshot(sleep)
	require.NoError(t, err)
	s = &Subject{Snap: snap}
	managed, why = LooksManaged(s)
	require.Falsef(t, managed, "pid %d, sleep from sh -c, looks managed: %s", sleep, why)
	requireNewStyle(t, "sleep from sh -c", s, Fails, Holds, Holds, Fails, Fails, Fails)
}

// killGroup kills the process group that cmd leads (Setsid made it),
// and waits for cmd. Any child of cmd's is gone already (requireChild),
// so none is orphaned to an init that may not reap it.
func killGroup(cmd *exec.Cmd) {
	unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	cmd.Wait()
}

// requireChild waits for pid to have a child named comm, and returns its
// pid. When the test ends, it kills that child first, so that pid, still
// alive, reaps it.
func requireChild(t *testing.T, pid int, comm string) int {
	t.Helper()
	var child int
	require.Truef(t, launch.WaitUntil(t.Context(), launch.Settle, func() bool {
		kids, _ := proc.Children(pid)
		for _, k := range kids {
			// The kernel names the process before exec has put its
			// environment in place: wait for that too.
			if env, err := proc.Environ(k.Pid); k.Comm == comm && err == nil && len(env) > 0 {
				child = k.Pid
				return true
			}
		}
		return false
	}), "pid %d starts %s within %v", pid, comm, launch.Settle)
	t.Cleanup(func() {
		unix.Kill(child, unix.SIGKILL)
		launch.WaitUntil(context.Background(), launch.CleanupTimeout, func() bool {
			_, err := proc.ReadStat(child) // gone once pid has reaped it
			return err != nil
		})
	})
	return child
}

// Test that point b tells a double fork, which leaves a daemon in a
// session whose leader has gone, from a process that leads its session
// or whose session leader is still there.
func TestNewStyleSeesDoubleFork(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pid, sid  int
		leaderErr error
		want      Mark
	}{
		{"leads its session, as a manager starts a service", 30, 30, nil, Holds},
		{"in a session whose leader is there", 30, 20, nil, Holds},
		{"fork, setsid, fork: the session leader has exited", 30, 20, fs.ErrNotExist, Fails},
		{"pid 1 of another namespace: session 0", 1, 0, errors.New("no session it can see"), NotShown},
	} {
		snap := snapshotOf(proc.Stat{Pid: tc.pid, Pgrp: tc.pid, Session: tc.sid, PPid: 1})
		snap.Leader.Comm, snap.LeaderErr = "sh", tc.leaderErr
		c := checkNotForked(&Subject{Snap: snap})
		t.Logf("%s: %q %q", tc.name, c.Value, c.Evidence)
		require.Equalf(t, tc.want, c.Mark, "%s: pid %d sid %d, leader's stat error %v: mark (0 not shown, 1 holds, 2 fails)", tc.name, tc.pid, tc.sid, tc.leaderErr)
		require.Lenf(t, c.Evidence, 1, "%s: one line of evidence", tc.name)
	}
}

// Test that what /proc denies (EACCES on environ and on a descriptor's
// link, as for pid 1 in a container) is "not readable" and never counts
// as a failure, nor as a sign of a manager.
func TestNewStyleNotReadableIsNeverAFailure(t *testing.T) {
	snap := snapshotOf(proc.Stat{Pid: 40, Pgrp: 40, Session: 40, PPid: 39})
	snap.Parent = proc.Stat{Pid: 39, Comm: "runner"}
	snap.EnvironErr = &fs.PathError{Op: "open", Path: "/proc/40/environ", Err: unix.EACCES}
	snap.Fds = map[int]string{0: proc.NotReadable, 1: proc.NotReadable, 2: proc.NotReadable}
	s := &Subject{Snap: snap}
	managed, why := LooksManaged(s)
	require.Falsef(t, managed, "an unreadable environment is no sign of a manager: %s", why)
	require.Containsf(t, why, "permission denied", "it says why it cannot tell")
	cells := CheckNewStyle(s)
	for k, c := range cells {
		require.NotEqualf(t, Fails, c.Mark, "point %s (%s) of a process /proc will not show: %q %q", NewStyleProperties[k].Label, NewStyleProperties[k].Column, c.Value, c.Evidence)
	}
	for _, k := range []int{3, 4} { // d stderr, e sockets
		require.Equalf(t, "not readable", cells[k].Value, "point %s says what it could not read", NewStyleProperties[k].Label)
	}

	if _, err := proc.Environ(1); !errors.Is(err, fs.ErrPermission) {
		t.Logf("/proc/1/environ is readable here (%v): pid 1 is not checked", err)
		return
	}
	snap, err := launch.TakeSnapshot(1)
	require.NoError(t, err)
	for k, c := range CheckNewStyle(&Subject{Snap: snap}) {
		if c.Mark == Fails {
			require.NotContainsf(t, c.Evidence[0], "environ", "point %s of pid 1 fails on what it could not read", NewStyleProperties[k].Label)
		}
	}
}

// Test that point c finds a pid file the process has open: the test's
// own, here.
func TestNewStyleSeesPidFile(t *testing.T) {
	f, snap := snapshotWithPidFile(t)
	c := checkNoPidFile(&Subject{Snap: snap})
	t.Logf("%q %q", c.Value, c.Evidence)
	require.Equalf(t, Fails, c.Mark, "the test has %s open, holding its pid %d: a pid file", f.Name(), os.Getpid())
	require.Containsf(t, c.Evidence[0], f.Name(), "the evidence names the file")
}
