package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"daemon-steps/internal/launch"
	"daemon-steps/internal/reaper"
)

// Test that a short run measures every quantity of the minimal re-exec
// server, of step 01 and of the C server (when a C compiler is here),
// prints them, and leaves no process of any sandbox behind.
func TestShortRunMeasuresAndLeavesNothing(t *testing.T) {
	opt, err := parseFlags([]string{"-short", "-servers", "c,reexec,step01"})
	require.NoErrorf(t, err, "parse the smoke test's flags")
	opt.Dir, err = os.MkdirTemp("", "bench")
	require.NoErrorf(t, err, "make the sandboxes' directory")
	defer os.RemoveAll(opt.Dir)

	rep, err := Run(context.Background(), opt, newProgress(io.Discard))
	left := reaper.Marked(launch.MarkerEnv + "=" + opt.Dir + "/")
	require.NoErrorf(t, err, "a short run of the bench (bench/measure.go, Run)")
	require.Emptyf(t, left, "every process started under %s is gone after the run; these are left: %v", opt.Dir, left)

	for _, r := range rep.Results {
		if r.Server.Skip != "" {
			t.Logf("%s skipped: %s", r.Server.Name, r.Server.Skip)
			continue
		}
		require.NoErrorf(t, r.Err, "%s: every measurement succeeds", r.Server.Name)
		require.Positivef(t, r.Launch, "%s: launch to accepting is measured", r.Server.Name)
		require.Positivef(t, r.LaunchCPU, "%s: the CPU time of a launch is measured", r.Server.Name)
		require.Positivef(t, r.RTT50, "%s: round-trip p50 is measured", r.Server.Name)
		require.GreaterOrEqualf(t, r.RTT99, r.RTT50, "%s: round-trip p99 is at least p50", r.Server.Name)
		require.Positivef(t, r.MBps, "%s: MB/s echoed is measured", r.Server.Name)
		require.Positivef(t, r.Conns1, "%s: connections/s with 1 dialer is measured", r.Server.Name)
		require.Positivef(t, r.Conns8, "%s: connections/s with 8 dialers is measured", r.Server.Name)
		require.Positivef(t, r.CPUPerConn, "%s: CPU time per connection is measured (bench/measure.go, measureDialing)", r.Server.Name)
		if r.Server.Key != cKey {
			// A launch starts at most three Go runtimes (launcher, session
			// leader, server) and the worker of the connection that found
			// the server; each connection starts one, so it costs about a
			// quarter of a launch or more. Step 01 leaves its workers as
			// zombies, and /proc/PID/stat, in clock ticks, shows almost
			// none of a short process's CPU time: counted from there, a
			// connection looked like a twentieth of a launch.
			require.GreaterOrEqualf(t, r.CPUPerConn, r.LaunchCPU/10,
				"%s: a connection, which starts a Go runtime, costs at least a tenth of the CPU time of a launch; saw %v per connection and %v per launch (bench/measure.go, measureDialing)",
				r.Server.Name, r.CPUPerConn, r.LaunchCPU)
		}
		// A process per connection holds memory of its own while idle.
		require.Positivef(t, r.PSSPerConn, "%s: PSS per idle connection (smaps_rollup of the server's tree) grows with each held connection", r.Server.Name)
	}
	var out bytes.Buffer
	writeText(&out, rep)
	require.Containsf(t, out.String(), "Go re-exec, minimal", "the table has a row for the minimal re-exec server:\n%s", out.String())
}

// Test that a server the bench does not know is refused with a one-line
// error that names the ones it knows.
func TestRejectsUnknownServer(t *testing.T) {
	_, err := parseFlags([]string{"-servers", "c,nginx"})
	require.ErrorContainsf(t, err, `no server "nginx"`, "bench -servers c,nginx")
	require.ErrorContainsf(t, err, "step12", "the error lists the servers there are")
}
