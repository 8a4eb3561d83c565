package launch

import (
	"os/exec"
	"os/signal"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"daemon-steps/internal/proc"
)

// Test that a program launched after ResetInheritedSignals has SIGHUP at
// its default action though this process ignores it, as under nohup.
func TestResetInheritedSignalsUndoesNohup(t *testing.T) {
	signal.Ignore(unix.SIGHUP)
	defer signal.Reset(unix.SIGHUP)
	sigIgn := func() string {
		out, err := exec.Command("/bin/sh", "-c", "grep SigIgn /proc/self/status").Output()
		require.NoError(t, err, "read a child's SigIgn")
		return strings.TrimSpace(strings.TrimPrefix(string(out), "SigIgn:"))
	}
	before := sigIgn()
	ignored, err := proc.SignalIgnored(before, int(unix.SIGHUP))
	require.NoError(t, err)
	require.Truef(t, ignored, "set-up: a child of a process that ignores SIGHUP inherits it ignored; SigIgn: %s", before)
	ResetInheritedSignals()
	after := sigIgn()
	ignored, err = proc.SignalIgnored(after, int(unix.SIGHUP))
	require.NoError(t, err)
	require.Falsef(t, ignored, "after ResetInheritedSignals, a child must start with SIGHUP at its default action; its SigIgn is %s", after)
}
