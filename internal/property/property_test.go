package property

import (
	"bufio"
	"context"
	"daemon-steps/internal/launch"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"daemon-steps/internal/proc"
)

// snapshotOf is a snapshot of a process that /proc showed with st.
func snapshotOf(st proc.Stat) launch.Snapshot {
	return launch.Snapshot{Pid: st.Pid, Stat: st, StatLine: strconv.Itoa(st.Pid) + " (echod) S 1 " + strconv.Itoa(st.Pgrp) + " " + strconv.Itoa(st.Session) + " 0 -1 …"}
}

// Test that property 5 tells a process that leads a group of its own (✓),
// one that leads its session or sits in another's group (✗), and the
// classic fork-setsid-fork result, in its session leader's group (pgid =
// sid != pid), which is neither.
func TestGroupCheckTellsClassicRecipe(t *testing.T) {
	for _, tc := range []struct {
		name            string
		pid, pgrp, sid  int
		tty             int
		want            Mark
		wantValueSubstr string
	}{
		{"own group, not leading the session (step 05)", 30, 30, 20, 0, Holds, "leads group"},
		{"session leader (steps 03-04)", 20, 20, 20, 0, Fails, "leads session"},
		{"classic recipe: the session leader's group", 30, 20, 20, 0, Classic, "session's group"},
		{"in the shell's group, on its terminal (steps 01-02)", 30, 20, 20, 136<<8 | 1, Fails, "group 20"},
		{"in another group of the session", 30, 25, 20, 0, Fails, "group 25"},
		{"pid 1 of a container: session 0, from outside its namespace", 1, 0, 0, 0, Fails, "group 0"},
	} {
		s := &Subject{Snap: snapshotOf(proc.Stat{Pid: tc.pid, Pgrp: tc.pgrp, Session: tc.sid, TtyNr: tc.tty, PPid: 1})}
		c := group(s)
		t.Logf("%s: %q %v", tc.name, c.Value, c.Evidence)
		require.Equalf(t, tc.want, c.Mark, "%s: pid %d pgid %d sid %d: mark (0 not shown, 1 holds, 2 fails, 3 classic)", tc.name, tc.pid, tc.pgrp, tc.sid)
		require.Containsf(t, c.Value, tc.wantValueSubstr, "%s: the value shown", tc.name)
	}
}

// Test that a real textbook daemon, made by fork, setsid and fork with no
// setpgid (as daemon(7) does), is shown as the classic recipe's result:
// sh -c in a new session starts sleep in the background, without job
// control, so sleep stays in sh's group.
func TestTextbookDaemonShowsAsClassic(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 60 & echo $!; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoErrorf(t, err, "sh -c reports the background sleep's pid")
	sleep, err := strconv.Atoi(strings.TrimSpace(line))
	require.NoErrorf(t, err, "sh -c printed %q, not a pid", line)
	t.Cleanup(func() {
		// sh, in its wait, reaps sleep; killed first, it would leave
		// sleep to an init that may not reap it.
		unix.Kill(sleep, unix.SIGKILL)
		launch.WaitUntil(context.Background(), launch.CleanupTimeout, func() bool {
			_, err := proc.ReadStat(sleep)
			return err != nil
		})
		cmd.Process.Kill()
		cmd.Wait()
	})
	require.Truef(t, launch.WaitUntil(t.Context(), launch.Settle, func() bool {
		st, err := proc.ReadStat(sleep)
		return err == nil && st.Comm == "sleep"
	}), "pid %d becomes sleep", sleep)

	snap, err := launch.TakeSnapshot(sleep)
	require.NoError(t, err)
	t.Logf("/proc/%d/stat: %s", sleep, snap.StatLine)
	require.Equalf(t, cmd.Process.Pid, snap.Stat.Session, "sleep's session is sh's, which setsid made (/proc/%d/stat: %s)", sleep, snap.StatLine)
	require.Equalf(t, cmd.Process.Pid, snap.Stat.Pgrp, "sleep stays in sh's group (/proc/%d/stat: %s)", sleep, snap.StatLine)
	c := Check(&Subject{Snap: snap})[4]
	require.Equalf(t, Classic, c.Mark, "property 5 of pgid = sid != pid: %q %v", c.Value, c.Evidence)
}

// Test that descriptors whose links could not be read (EACCES, as for
// pid 1 in a container) are "not readable", never "closed", and never
// make property 6 fail by themselves; a readable one that is wrong still
// does.
func TestUnreadableDescriptorsAreNotClosed(t *testing.T) {
	snap := snapshotOf(proc.Stat{Pid: 1, Pgrp: 1, Session: 1})
	snap.Fds = map[int]string{0: proc.NotReadable, 1: proc.NotReadable, 2: proc.NotReadable}
	c := stdFiles(&Subject{Snap: snap})
	t.Logf("%q %s %v", c.Value, c.Why, c.Evidence)
	require.Equalf(t, NotShown, c.Mark, "denied descriptors: neither ✓ nor ✗ (value %q)", c.Value)
	require.Equalf(t, "0-2 unreadable", c.Value, "the cell says what it could not read")
	for _, e := range c.Evidence {
		require.NotContainsf(t, e, "closed", "the evidence line %q", e)
	}

	snap.Fds = map[int]string{0: proc.NotReadable, 1: "/dev/pts/3", 2: proc.NotReadable}
	c = stdFiles(&Subject{Snap: snap})
	require.Equalf(t, Fails, c.Mark, "descriptor 1 is a terminal, readable and wrong: %q", c.Value)

	snap.Fds = map[int]string{0: "/dev/null", 1: "/dev/null"}
	c = stdFiles(&Subject{Snap: snap})
	require.Equalf(t, Fails, c.Mark, "descriptor 2 is closed: %q", c.Value)
	require.Containsf(t, c.Value, "closed", "a descriptor missing from /proc/PID/fd is closed")
}

// Test the short forms of descriptors 0, 1 and 2.
func TestSummarizeFds(t *testing.T) {
	require.Equal(t, "0-2 null", SummarizeFds([3]string{"null", "null", "null"}))
	require.Equal(t, "0,1 null 2 log", SummarizeFds([3]string{"null", "null", "log"}))
	require.Equal(t, "0 null 1,2 socket", SummarizeFds([3]string{"null", "socket", "socket"}))
	require.Equal(t, "0 pts/1 1 pipe 2 null", SummarizeFds([3]string{"pts/1", "pipe", "null"}))
}

// snapshotWithPidFile opens a temporary file holding the test's own pid,
// open until the test ends, and returns it with a snapshot of the test's
// process: a process that has its pid file open.
func snapshotWithPidFile(t *testing.T) (*os.File, launch.Snapshot) {
	t.Helper()
	f, err := os.CreateTemp("", "pidfile")
	require.NoError(t, err, "set-up: a temporary pid file")
	t.Cleanup(func() {
		f.Close()
		os.Remove(f.Name())
	})
	_, err = f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	require.NoError(t, err, "set-up: write the pid file %s", f.Name())
	snap, err := launch.TakeSnapshot(os.Getpid())
	require.NoError(t, err, "set-up: a snapshot of the test's process %d", os.Getpid())
	return f, snap
}

// Test that the pid file of a process the tour did not launch is found
// among the files it has open, even outside /run.
func TestPidFileFoundAmongOpenFiles(t *testing.T) {
	f, snap := snapshotWithPidFile(t)
	c := pidFile(&Subject{Snap: snap})
	t.Logf("%q %v", c.Value, c.Evidence)
	require.Equalf(t, Holds, c.Mark, "the test's open file %s holds its pid", f.Name())
	require.Equal(t, f.Name(), c.Value)
}
