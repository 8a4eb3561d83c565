package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"daemon-steps/internal/launch"
	"daemon-steps/internal/proc"
	"daemon-steps/internal/property"
	"daemon-steps/internal/pty"
	"daemon-steps/internal/reaper"
)

// The tests run one after another, never in parallel: Tour's last sweep
// reaps every exited child of the process that os/exec does not wait for
// through the tour's own reaper, which a test's own child would not be.

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	// A server that the tour failed to stop would come to the test process
	// instead of init, where the tests can see it.
	if err := reaper.BecomeSubreaper(); err != nil {
		fmt.Fprintf(os.Stderr, "tour test: %v\n", err)
		return 1
	}
	code := m.Run()
	reaper.Sweep()
	if left := descendants(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "tour test: processes outlive the tests: %v\n", left)
		return 1
	}
	return code
}

// fullTour tours every step once, for all the tests that look at a report.
var fullTour = sync.OnceValues(func() (*Report, error) {
	return Tour(context.Background(), Options{})
})

// requireFullTour returns the report of the full tour.
func requireFullTour(t *testing.T) *Report {
	t.Helper()
	r, err := fullTour()
	require.NoError(t, err)
	t.Logf("toured %d steps in %v", len(r.Rows), r.Elapsed)
	return r
}

// descendants returns the processes below the test process, zombies
// included, as "pid (comm, state)".
func descendants() []string {
	all, _ := proc.All()
	below := map[int]bool{os.Getpid(): true}
	var found []string
	for grew := true; grew; {
		grew = false
		for _, st := range all {
			if below[st.PPid] && !below[st.Pid] {
				below[st.Pid] = true
				found = append(found, fmt.Sprintf("%d (%s, %c)", st.Pid, st.Comm, st.State))
				grew = true
			}
		}
	}
	return found
}

// Test that the table's marks are the matrix of PROPERTIES.md: in the row
// of step N, properties 1 to N hold and the properties of later steps do
// not.
func TestMarksFollowPropertiesMatrix(t *testing.T) {
	r := requireFullTour(t)
	require.NotEmpty(t, r.Rows)
	for _, row := range r.Rows {
		require.NoError(t, row.Err, "step %s", row.Step.Name)
		for k, c := range row.Cells {
			want := property.Fails
			if k+1 <= row.Step.N {
				want = property.Holds
			}
			// A new-style step: the manager does what it does, marked M.
			if row.Launch.NewStyle && property.Properties[k].ByManager != "" {
				want = property.Manager
			}
			// On a kernel before 4.7, /proc/PID/status has no Umask line:
			// the only cell the tour may leave unshown.
			if c.Mark == property.NotShown && c.Why == property.WhyNoUmask {
				t.Logf("%s, property %d: not shown: %s", row.Step.Name, k+1, c.Why)
				continue
			}
			require.Equal(t, symbol(want), symbol(c.Mark), "%s, property %d (%s): %q; evidence: %q",
				row.Step.Name, k+1, property.Properties[k].Column, c.Value, c.Evidence)
		}
	}
}

// Test that the tour stops every process it started: nothing it launched
// is left below the test process, a subreaper that every orphan comes to.
func TestTourLeavesNoProcess(t *testing.T) {
	requireFullTour(t)
	reaper.Sweep()
	require.Empty(t, descendants())
}

// Test that every cell the tour shows has evidence and a command to see
// it by hand.
func TestEveryCellHasEvidenceAndCommand(t *testing.T) {
	r := requireFullTour(t)
	for _, row := range r.Rows {
		for k, c := range row.Cells {
			require.NotEmpty(t, c.Value, "%s, property %d", row.Step.Name, k+1)
			require.NotEmpty(t, c.Evidence, "%s, property %d", row.Step.Name, k+1)
			require.NotEmpty(t, c.Command, "%s, property %d", row.Step.Name, k+1)
			require.NotContains(t, c.Command, "{pid}")
		}
	}
}

// Test that the table brackets the diagonal, one cell a row, and uses no
// colour unless asked.
func TestTableBracketsDiagonal(t *testing.T) {
	r := requireFullTour(t)
	var out bytes.Buffer
	renderTable(&out, r, style{})
	t.Logf("\n%s", out.String())
	require.NotContains(t, out.String(), "\x1b[", "no colour in plain style")
	lines := strings.Split(out.String(), "\n")
	for i, row := range r.Rows {
		line := lines[1+i]
		require.True(t, strings.HasPrefix(line, rowLabel(row)), line)
		if row.Step.N > len(property.Properties) { // after the twelve: no property of its own
			require.Equal(t, 0, strings.Count(line, "["), "no bracketed cell: %q", line)
			continue
		}
		require.Equal(t, 1, strings.Count(line, "["), "one bracketed cell: %q", line)
		require.Contains(t, line, "["+cellText(row.Cells[row.Step.N-1])+"]", "the diagonal is step %d's own property", row.Step.N)
	}

	out.Reset()
	renderTable(&out, r, style{color: true})
	require.Contains(t, out.String(), "\x1b[")
}

// Test that colour is used for a terminal, and not for a pipe or when
// NO_COLOR is set.
func TestColourOnlyOnTerminalWithoutNoColor(t *testing.T) {
	term, err := pty.Open()
	require.NoError(t, err)
	defer term.Close()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()

	t.Setenv("NO_COLOR", "") // restored when the test ends
	os.Unsetenv("NO_COLOR")
	require.True(t, newStyle(term.Slave).color, "a terminal")
	require.False(t, newStyle(w).color, "a pipe")
	require.False(t, newStyle(&bytes.Buffer{}).color, "not a file")
	t.Setenv("NO_COLOR", "")
	require.False(t, newStyle(term.Slave).color, "a terminal, with NO_COLOR set")
}

// Test that the in-depth view of a step draws its sessions, groups and
// processes, gone ones included, and shows evidence and commands.
func TestStepViewDrawsTreeAndEvidence(t *testing.T) {
	r := requireFullTour(t)
	for _, row := range r.Rows {
		var out bytes.Buffer
		renderStep(&out, r, row, style{})
		view := out.String()
		require.Contains(t, view, fmt.Sprintf("Step %02d", row.Step.N))
		require.Contains(t, view, "┌─ session ")
		require.Contains(t, view, "┌─ process group ")
		if row.Launch.NewStyle {
			require.Contains(t, view, "the server, in the foreground, where the manager started it")
		} else {
			require.Contains(t, view, "the launcher: returned with status 0")
		}
		require.Contains(t, view, "the server")
		require.Contains(t, view, fmt.Sprintf("/proc/%d/stat: ", row.Launch.Server))
		if row.Step.N <= len(property.Properties) {
			require.Contains(t, view, fmt.Sprintf("[%2d]", row.Step.N))
		}
		require.Contains(t, view, "$ ps -o pid,ppid,pgid,sid,tty,stat,cmd -p ")
		switch {
		case row.Step.N <= 2:
			require.Contains(t, view, "controlling terminal pts/", "the server shares the shell's terminal")
		case row.Launch.NewStyle:
			require.Contains(t, view, "session of its own", "a manager starts a service in a session of its own")
		case row.Step.N >= 5:
			require.Contains(t, view, "the session leader: started the server, exited")
		}
		if row.Step.N >= 7 && !row.Launch.NewStyle {
			require.Contains(t, view, "$ cat /proc/locks")
			require.Contains(t, view, "/proc/locks: ")
		}
		if row.Step.N == 7 {
			t.Logf("\n%s", view)
		}
	}
}

// startSleep starts sleep as the test's child, with Setsid or not, and
// stops it when the test ends.
func startSleep(t *testing.T, setsid bool) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// Wait for the exec: until then the child is a copy of the test.
	require.Eventually(t, func() bool {
		st, err := proc.ReadStat(cmd.Process.Pid)
		return err == nil && st.Comm == "sleep"
	}, launch.Settle, launch.Poll)
	return cmd.Process.Pid
}

// Test that -pid judges a process the tour did not start from /proc
// alone: a sleep in a new session has no controlling terminal and a
// session other than its parent's, but leads that session; one in the
// test's session shares it. What only a launch shows is marked so.
func TestPidChecksProcessFromProc(t *testing.T) {
	for _, setsid := range []bool{true, false} {
		pid := startSleep(t, setsid)
		snap, err := launch.TakeSnapshot(pid)
		require.NoError(t, err)
		cells := property.Check(&property.Subject{Snap: snap})
		for k, c := range cells {
			t.Logf("setsid %v: %d %s: %s %s %s", setsid, k+1, property.Properties[k].Column, symbol(c.Mark), c.Value, c.Why)
		}
		terminal, group := cells[2], cells[4]
		if setsid {
			require.Equal(t, property.Holds, terminal.Mark, "new session, no controlling terminal: %q", terminal.Evidence)
			require.Equal(t, "no tty", terminal.Value)
			require.Equal(t, property.Fails, group.Mark, "it leads its session")
			require.Equal(t, "leads session", group.Value)
		} else {
			require.Equal(t, property.Fails, terminal.Mark, "in its parent's session: %q", terminal.Evidence)
		}
		for _, k := range []int{2, 11} {
			require.Equal(t, property.NotShown, cells[k-1].Mark, "property %d", k)
			require.Equal(t, property.WhyNeedsLaunch, cells[k-1].Why, "property %d", k)
		}
		require.Equal(t, property.Fails, cells[0].Mark, "its parent is the test, not init: %q", cells[0].Value)
		require.Equal(t, property.Holds, cells[11].Mark, "sleep has no children, so no zombies")
	}
}

// Test that -pid prints the whole checklist and a summary.
func TestPidPrintsChecklist(t *testing.T) {
	pid := startSleep(t, true)
	var stdout, stderr bytes.Buffer
	code := tourCommand([]string{"-pid", fmt.Sprint(pid)}, &stdout, &stderr)
	t.Logf("\n%s", stdout.String())
	require.Equal(t, 0, code, stderr.String())
	require.Empty(t, stderr.String())
	for _, p := range property.Properties {
		require.Contains(t, stdout.String(), fmt.Sprintf("%2d  %s", p.N, p.Column))
	}
	require.Contains(t, stdout.String(), "needs a launch")
	require.Contains(t, stdout.String(), "Follows ")
}

// Test that -pid judges a process that a service manager started (here
// systemd-socket-activate, with $NOTIFY_SOCKET and $MANAGERPID) against
// daemon(7)'s new-style list as well, a sleep started from the test only
// against the twelve, and that what it prints for either, for pid 1 and
// for the test itself fits 100 columns.
func TestPidJudgesManagedServiceAgainstNewStyleList(t *testing.T) {
	t.Setenv("COLUMNS", "100")
	run := func(pid int) string {
		var stdout, stderr bytes.Buffer
		code := tourCommand([]string{"-pid", fmt.Sprint(pid)}, &stdout, &stderr)
		require.Equalf(t, 0, code, "tour -pid %d: %s", pid, stderr.String())
		for _, line := range strings.Split(stdout.String(), "\n") {
			require.LessOrEqualf(t, width(line), 100, "a line of tour -pid %d at COLUMNS=100: %q", pid, line)
		}
		return stdout.String()
	}
	out := run(startSleep(t, true))
	require.Containsf(t, out, "Not judged against daemon(7)'s new-style list", "a sleep the test started:\n%s", out)
	run(1)
	run(os.Getpid())

	if _, err := exec.LookPath("systemd-socket-activate"); err != nil {
		t.Skipf("systemd-socket-activate is not installed (apt-get install systemd): it starts the managed process")
	}
	dir, err := os.MkdirTemp("", "") // short: a socket path has 108 bytes
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	cmd, err := launch.StartActivated(t.Context(), filepath.Join(dir, "s.sock"), filepath.Join(dir, "notify.sock"), w, "sleep", "60")
	w.Close()
	require.NoError(t, err)
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	out = run(cmd.Process.Pid)
	t.Logf("\n%s", out)
	require.Containsf(t, out, "daemon(7)'s new-style list, as it looks like a managed service", "pid %d under systemd-socket-activate", cmd.Process.Pid)
	for _, p := range property.NewStyleProperties {
		require.Containsf(t, out, fmt.Sprintf(" %s  %s ✓", p.Label, pad(p.Column, 9)), "point %s (%s: %s) holds", p.Label, p.Column, p.Claim)
	}
	require.Contains(t, out, fmt.Sprintf("Follows 6 of the %d points of the new-style list", len(property.NewStyleProperties)))
}

// Test that -pid 1, where its descriptors' links are denied (a container
// without CAP_SYS_PTRACE), says "not readable" rather than "closed", and
// marks descriptors 0 to 2 neither ✓ nor ✗. Skipped where they can be read.
func TestPidOneNeverSaysClosed(t *testing.T) {
	if _, err := os.Readlink("/proc/1/fd/0"); !errors.Is(err, unix.EACCES) {
		t.Skipf("readlink /proc/1/fd/0 is not denied here (%v)", err)
	}
	var stdout, stderr bytes.Buffer
	require.Equalf(t, 0, tourCommand([]string{"-pid", "1"}, &stdout, &stderr), "tour -pid 1: %s", stderr.String())
	t.Logf("\n%s", stdout.String())
	require.NotContainsf(t, stdout.String(), "closed", "a descriptor it could not read is not closed")
	require.Containsf(t, stdout.String(), "0/1/2     – 0-2 unreadable", "property 6 of pid 1: not shown")
}

// Test that bad command lines get one line on standard error and a
// non-zero status, never a stack trace.
func TestBadInputGetsOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"-pid", "abc"}, 1},
		{[]string{"-pid", "0"}, 1},
		{[]string{"-pid", "-5"}, 1},
		{[]string{"-pid", "2147483647"}, 1},
		{[]string{"-pid"}, 2},
		{[]string{"-step", "0"}, 2},
		{[]string{"-step", "99"}, 1},
		{[]string{"-step", "x"}, 2},
		{[]string{"-step", "3", "-pid", "1"}, 2},
		{[]string{"-bogus"}, 2},
		{[]string{"extra"}, 2},
	} {
		var stdout, stderr bytes.Buffer
		code := tourCommand(tc.args, &stdout, &stderr)
		t.Logf("tour %s: status %d: %s", strings.Join(tc.args, " "), code, strings.TrimSpace(stderr.String()))
		require.Equal(t, tc.code, code, "%v", tc.args)
		require.Empty(t, stdout.String(), "%v", tc.args)
		require.Equal(t, 1, strings.Count(stderr.String(), "\n"), "%v: one line: %q", tc.args, stderr.String())
		require.True(t, strings.HasPrefix(stderr.String(), "tour: "), "%v", tc.args)
		require.NotContains(t, stderr.String(), "goroutine")
	}

	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, tourCommand([]string{"-h"}, &stdout, &stderr))
	require.Contains(t, stdout.String(), "usage: go run ./tour")
}

// Test that Tour refuses a step that does not exist, before starting
// anything.
func TestRunRefusesMissingStep(t *testing.T) {
	_, err := Tour(context.Background(), Options{Steps: []int{99}})
	require.ErrorContains(t, err, "there is no step 99")
}

// Test that Ctrl-C stops the tour, and the tour stops every process it
// started before it exits: nothing comes to the test process, the
// subreaper above it, afterwards.
func TestInterruptStopsEverything(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "tour")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	cmd := exec.Command(binary, "-step", "1") // one step: the interrupt is the same, the build shorter
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	tour := cmd.Process.Pid
	// Interrupt once a server runs: its parent is the tour, a subreaper.
	require.Eventually(t, func() bool {
		kids, _ := proc.Children(tour)
		for _, k := range kids {
			if k.Comm == "echod" && k.State != 'Z' {
				return true
			}
		}
		return false
	}, 30*time.Second, launch.Poll, "a server starts")
	t.Logf("kill -INT %d", tour)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(2 * launch.CleanupTimeout):
		cmd.Process.Kill()
		<-waited
		t.Fatalf("the tour did not exit within %v of Ctrl-C", 2*launch.CleanupTimeout)
	}
	t.Logf("status %d; stderr %q", cmd.ProcessState.ExitCode(), stderr.String())
	require.Equal(t, 130, cmd.ProcessState.ExitCode())
	require.Equal(t, "tour: interrupted; every process the tour started is stopped\n", stderr.String())
	reaper.Sweep()
	require.Empty(t, descendants(), "processes the tour left")
}

// Test that at 100 and at 80 columns no line of the table or of a step's
// view is wider than the terminal, the table being transposed with the
// diagonal still bracketed, and that with no width the table keeps a row
// per step.
func TestOutputFitsTerminalWidth(t *testing.T) {
	r := requireFullTour(t)
	for _, cols := range []int{100, 80} {
		st := style{width: cols}
		var table bytes.Buffer
		out := fit(&table, st)
		renderTable(out, r, st)
		require.NoError(t, out.flush())
		t.Logf("at %d columns:\n%s", cols, table.String())
		lines := strings.Split(strings.TrimRight(table.String(), "\n"), "\n")
		for _, line := range lines {
			require.LessOrEqualf(t, width(line), cols, "a line of the table at COLUMNS=%d: %q", cols, line)
		}
		for k, p := range property.Properties {
			line := lines[1+k]
			require.Truef(t, strings.HasPrefix(line, fmt.Sprintf("%2d %s", p.N, p.Column)), "row %d of the transposed table is property %d: %q", 1+k, p.N, line)
			require.Equalf(t, 1, strings.Count(line, "["), "one bracketed cell in %q", line)
		}
		for _, row := range r.Rows {
			var view bytes.Buffer
			out := fit(&view, st)
			renderStep(out, r, row, st)
			require.NoError(t, out.flush())
			for _, line := range strings.Split(view.String(), "\n") {
				require.LessOrEqualf(t, width(line), cols, "a line of -step %d at COLUMNS=%d: %q", row.Step.N, cols, line)
			}
		}
	}
}

// Test that the width comes from COLUMNS when the output is not a
// terminal, and from the terminal (TIOCGWINSZ) when it is.
func TestWidthFromTerminalOrColumns(t *testing.T) {
	t.Setenv("COLUMNS", "93")
	require.Equal(t, 93, termWidth(&bytes.Buffer{}), "not a terminal: COLUMNS")
	t.Setenv("COLUMNS", "")
	require.Equal(t, 0, termWidth(&bytes.Buffer{}), "neither: no limit")

	term, err := pty.Open()
	require.NoError(t, err)
	defer term.Close()
	require.NoError(t, unix.IoctlSetWinsize(int(term.Master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 77}))
	require.Equal(t, 77, termWidth(term.Slave), "a terminal 77 columns wide")
}

// Test that wrap breaks at spaces within the width, continuing indented.
func TestWrapKeepsIndentation(t *testing.T) {
	got := wrap("  one two three four five six", 20)
	require.Equal(t, []string{"  one two three four", "      five six"}, got)
	require.Equal(t, []string{"short"}, wrap("short", 0), "no limit")
	require.Equal(t, []string{"│ a long box line stays whole │"}, wrap("│ a long box line stays whole │", 5))
	path := "/root/.cache/go-build/1e/1eb24a547bcae64f/transcript"
	long := wrap("  exe "+path, 20)
	for _, l := range long {
		require.LessOrEqualf(t, width(l), 20, "a path wider than the terminal is cut: %q", long)
	}
	var rejoined string
	for _, l := range long {
		rejoined += strings.TrimLeft(l, " ")
	}
	require.Equalf(t, "exe "+path, rejoined, "the pieces of a cut path put together are the path: %q", long)
}

// Test that boxes are rectangles, whatever their content.
func TestBoxIsRectangle(t *testing.T) {
	lines := box("session 1", append(box("process group 2", []string{"1 sleep", "a longer line than the title"}), "x"))
	for _, l := range lines {
		require.Equal(t, width(lines[0]), width(l), "%q", l)
	}
}

// BenchmarkTour times one full tour: building every step, launching each,
// looking, and stopping everything.
func BenchmarkTour(b *testing.B) {
	for b.Loop() {
		r, err := Tour(context.Background(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if r.Failed() {
			b.Fatal("a step failed")
		}
	}
}
