package proc

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Test that tty_nr device numbers are named as ps names them.
func TestTtyNameDecodesDeviceNumbers(t *testing.T) {
	for nr, name := range map[int]string{
		0:                                   "",
		136<<8 | 3:                          "pts/3",
		137<<8 | 4:                          "pts/260",
		136<<8 | 300&0xff | (300&^0xff)<<12: "pts/300",
		4<<8 | 1:                            "tty1",
		4<<8 | 64:                           "ttyS0",
		5<<8 | 1:                            "console",
		7<<8 | 2:                            "7:2",
	} {
		require.Equal(t, name, TtyName(nr), "tty_nr %d", nr)
	}
}

// Test that Cmdline and Environ read what the process was started with.
func TestCmdlineAndEnvironOfSelf(t *testing.T) {
	args, err := Cmdline(os.Getpid())
	require.NoError(t, err)
	require.Equal(t, os.Args, args)
	env, err := Environ(os.Getpid())
	require.NoError(t, err)
	require.NotEmpty(t, env)
	for _, kv := range env {
		require.Contains(t, kv, "=")
	}
}

// Test that Umask reads the process's umask.
func TestUmaskOfSelf(t *testing.T) {
	old := unix.Umask(0o027)
	defer unix.Umask(old)
	mask, err := Umask(os.Getpid())
	require.NoError(t, err)
	require.Equal(t, 0o027, mask)
	_, err = ParseUmask(map[string]string{})
	require.ErrorContains(t, err, "no Umask line")
}

// Test that StatLine is what ReadStat parses.
func TestStatLineParsesAsReadStat(t *testing.T) {
	line, err := StatLine(os.Getpid())
	require.NoError(t, err)
	require.False(t, strings.HasSuffix(line, "\n"))
	st, err := ParseStat(line)
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), st.Pid)
	require.Equal(t, os.Getppid(), st.PPid)
}

// Test that a lock taken by the test shows in Locks, with its line.
func TestLocksShowsOwnFlock(t *testing.T) {
	f, err := os.CreateTemp("", "lock")
	require.NoError(t, err)
	defer os.Remove(f.Name())
	defer f.Close()
	require.NoError(t, unix.Flock(int(f.Fd()), unix.LOCK_EX))
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(f.Fd()), &st))
	locks, err := Locks()
	require.NoError(t, err)
	for _, l := range locks {
		if l.Inode == st.Ino && l.Major == unix.Major(st.Dev) && l.Minor == unix.Minor(st.Dev) {
			require.Equal(t, "FLOCK", l.Kind)
			require.Equal(t, os.Getpid(), l.Pid)
			require.Contains(t, l.Line, "FLOCK")
			return
		}
	}
	t.Fatalf("no lock on inode %d in /proc/locks", st.Ino)
}

// Test that a descriptor whose link the kernel refuses to show (EACCES:
// pid 1 in a container without CAP_SYS_PTRACE, or another user's process)
// is listed as not readable, not left out as if closed. It needs such a
// process, and is skipped where pid 1 is readable.
func TestFdsSaysNotReadableWhenDenied(t *testing.T) {
	if _, err := os.Readlink("/proc/1/fd/0"); !errors.Is(err, unix.EACCES) {
		t.Skipf("readlink /proc/1/fd/0 is not denied here (%v)", err)
	}
	fds, err := Fds(1)
	require.NoError(t, err, "/proc/1/fd itself can be listed")
	require.Equalf(t, NotReadable, fds[0], "descriptor 0 of pid 1: readlink says EACCES")
}

// Test that Children finds a running child and a zombie child through the
// threads' children files, as the scan of every process finds them.
func TestChildrenFindsRunningAndZombieChildren(t *testing.T) {
	running, err := os.StartProcess("/bin/sleep", []string{"sleep", "30"}, &os.ProcAttr{})
	require.NoError(t, err, "start sleep 30")
	defer func() { running.Kill(); running.Wait() }()
	exited, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	require.NoError(t, err, "start true")
	defer exited.Wait()
	// Wait for true to be a zombie, without reaping it.
	for range 400 {
		if st, err := ReadStat(exited.Pid); err == nil && st.State == 'Z' {
			break
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 5e6}, nil)
	}
	kids, err := Children(os.Getpid())
	require.NoError(t, err, "Children of the test process")
	scanned, err := childrenByScan(os.Getpid())
	require.NoError(t, err, "the scan of every process")
	states := func(list []Stat) map[int]byte {
		m := make(map[int]byte)
		for _, s := range list {
			m[s.Pid] = s.State
		}
		return m
	}
	got := states(kids)
	require.Containsf(t, got, running.Pid, "Children must list the running child %d; it listed %v", running.Pid, got)
	require.Equalf(t, byte('Z'), got[exited.Pid], "Children must list the exited, unreaped child %d as a zombie; it listed %v", exited.Pid, got)
	require.Equalf(t, len(states(scanned)), len(got), "Children must find as many children as the scan of every process: %v and %v", got, states(scanned))
}
