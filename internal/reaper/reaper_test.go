package reaper

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"daemon-steps/internal/proc"
)

func TestMain(m *testing.M) {
	if err := BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// Test that KillMarked kills a marked process and the children it started,
// and reaps them all.
func TestKillMarkedKillsAndReapsDescendants(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 60 & sleep 60 & wait")
	cmd.Env = append(os.Environ(), "REAPER_TEST="+t.Name())
	require.NoError(t, cmd.Start())
	marker := "REAPER_TEST=" + t.Name() + "\x00"
	var procs map[int]proc.Stat
	require.Eventually(t, func() bool {
		procs = Marked(marker)
		return len(procs) == 3
	}, 5*time.Second, 5*time.Millisecond, "the shell and its two sleeps")

	require.NoError(t, KillMarked(marker, 5*time.Second))
	for pid := range procs {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		require.ErrorIs(t, err, os.ErrNotExist, "%d is gone and reaped", pid)
	}
}

// Test that WaitExit returns the exit status of a child nobody waits for.
func TestWaitExitReturnsStatus(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "exit 7")
	require.NoError(t, cmd.Start())
	ws, err := WaitExit(cmd.Process.Pid, 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, 7, ws.ExitStatus())
}

// Test that Sweep leaves alone a child that Start claimed for os/exec, so
// that Wait still gets its exit status.
func TestSweepLeavesClaimedChildren(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "exit 3")
	require.NoError(t, Start(cmd))
	require.Eventually(t, func() bool {
		st, err := proc.ReadStat(cmd.Process.Pid)
		return err == nil && st.State == 'Z'
	}, 5*time.Second, 5*time.Millisecond, "the child has exited")
	require.NotContains(t, Sweep(), cmd.Process.Pid)
	var exit *exec.ExitError
	require.ErrorAs(t, Wait(cmd), &exit)
	require.Equal(t, 3, exit.ExitCode())
}
