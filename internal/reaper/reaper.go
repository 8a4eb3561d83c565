// Package reaper lets a program that starts daemons, the tour or a test,
// stop every process it caused and reap it.
//
// The program becomes a child subreaper, so that a daemon orphaned by its
// launcher becomes its child rather than init's. It then has two kinds of
// children: those that os/exec waits for (Start, Wait), and orphans that
// nobody waits for, which it reaps itself (Reap, Sweep). Reaping a child
// that exec.Cmd.Wait still waits for would leave Wait with ECHILD instead of
// an exit status, so the two are kept apart. A group of processes is found
// by a marker in their environment, which the processes they start inherit
// (Marked, KillMarked).
package reaper

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"daemon-steps/internal/proc"
)

// poll is how often the waits here look again.
const poll = 5 * time.Millisecond

// A process has one set of children, so there is one set of claims.
var (
	mu      sync.Mutex
	claimed = make(map[int]bool) // children that someone else waits for
)

// BecomeSubreaper makes the calling process a child subreaper: processes
// orphaned below it come to it instead of init.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become a child subreaper: %w", err)
	}
	return nil
}

// Start starts cmd and claims it for cmd.Wait, under the lock, so that no
// sweep can see it in between.
func Start(cmd *exec.Cmd) error {
	mu.Lock()
	defer mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	claimed[cmd.Process.Pid] = true
	return nil
}

// Wait waits for a command that Start started, and releases its claim.
func Wait(cmd *exec.Cmd) error {
	err := cmd.Wait()
	release(cmd.Process.Pid)
	return err
}

func release(pid int) {
	mu.Lock()
	delete(claimed, pid)
	mu.Unlock()
}

// Claim keeps Sweep and Reap from reaping pid, a child or an orphan to be,
// until Release: whoever claims it means to learn its exit status
// (WaitExit) and must not find it reaped by a sweep meanwhile.
func Claim(pid int) {
	mu.Lock()
	claimed[pid] = true
	mu.Unlock()
}

// Release ends a claim of Claim.
func Release(pid int) { release(pid) }

// Reap collects pid's exit status if it is an unclaimed child that has
// exited; ok is false if it is not (yet).
func Reap(pid int) (ws unix.WaitStatus, ok bool) {
	mu.Lock()
	defer mu.Unlock()
	if claimed[pid] {
		return ws, false
	}
	got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	return ws, err == nil && got == pid
}

// WaitExit waits up to timeout for pid, a child that nobody else waits for
// (such as an orphaned server), to exit, and returns its status. It claims
// pid meanwhile, so that no sweep reaps it first.
func WaitExit(pid int, timeout time.Duration) (unix.WaitStatus, error) {
	mu.Lock()
	claimed[pid] = true
	mu.Unlock()
	defer release(pid)
	deadline := time.Now().Add(timeout)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err == nil && got == pid {
			return ws, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return 0, fmt.Errorf("wait for %d: %w", pid, err)
			}
			return 0, fmt.Errorf("%d did not exit within %v", pid, timeout)
		}
		time.Sleep(poll)
	}
}

// Sweep reaps every exited child that nobody waits for: orphans that came
// here after they exited, such as the workers of a server that was killed,
// or a server that failed to start after its launcher had gone. It returns
// their pids.
func Sweep() []int {
	var reaped []int
	kids, _ := proc.Children(os.Getpid())
	for _, k := range kids {
		if k.State != 'Z' {
			continue
		}
		if _, ok := Reap(k.Pid); ok {
			reaped = append(reaped, k.Pid)
		}
	}
	return reaped
}

// Marked returns the processes below the calling process whose
// environment holds marker (such as "DAEMON_STEPS_SANDBOX=/tmp/tour123/07\x00"),
// and their descendants, zombies included: a zombie has no environment left
// to read, but its parent is still known. The calling process is a child
// subreaper (BecomeSubreaper), so whatever it started stays below it, even
// a daemon whose launcher has gone; only its descendants are read, not
// every process on the machine.
func Marked(marker string) map[int]proc.Stat {
	below := descendants(os.Getpid())
	return marked(marker, below, below)
}

// MarkedOrphans returns the processes whose parent is init and whose
// environment holds marker, with their descendants: what a run that was
// killed from outside left behind, since its daemons went to init. Only
// the children of init are read for the marker.
func MarkedOrphans(marker string) map[int]proc.Stat {
	all, _ := proc.All()
	var orphans []proc.Stat
	for _, st := range all {
		if st.PPid == 1 {
			orphans = append(orphans, st)
		}
	}
	return marked(marker, orphans, all)
}

// descendants returns the processes below pid, found through each one's
// children.
func descendants(pid int) []proc.Stat {
	var below []proc.Stat
	for next := []int{pid}; len(next) > 0; {
		parent := next[0]
		next = next[1:]
		kids, _ := proc.Children(parent)
		for _, k := range kids {
			below = append(below, k)
			next = append(next, k.Pid)
		}
	}
	return below
}

// marked picks from candidates those whose environment holds marker, and
// their descendants among procs.
func marked(marker string, candidates, procs []proc.Stat) map[int]proc.Stat {
	mine, _ := markedOrUnknown(marker, candidates, procs)
	return mine
}

// markedOrUnknown is marked, and also counts the live candidates whose
// environment could not be read: a process in the middle of an exec or an
// exit shows none for a moment, and may yet turn out to be marked.
func markedOrUnknown(marker string, candidates, procs []proc.Stat) (mine map[int]proc.Stat, unknown int) {
	mine = make(map[int]proc.Stat)
	for _, st := range candidates {
		if st.Pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", st.Pid))
		switch {
		case err == nil && bytes.Contains(env, []byte(marker)):
			mine[st.Pid] = st
		case (err != nil || len(env) == 0) && st.State != 'Z' && st.State != 'X' && exists(st.Pid):
			unknown++
		}
	}
	for grew := true; grew; {
		grew = false
		for _, st := range procs {
			if _, ok := mine[st.Pid]; ok {
				continue
			}
			if _, ok := mine[st.PPid]; ok {
				mine[st.Pid] = st
				grew = true
			}
		}
	}
	return mine, unknown
}

// exists reports whether pid is still there.
func exists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// KillMarked kills every process that carries marker, with its
// descendants, and reaps those that are (or become) children of the calling
// process. It returns an error naming any that are still there after
// timeout. It looks for marked processes again once those it killed have
// gone, for any that one of them started in the meantime.
//
// It stops them (SIGSTOP) before it kills them, and looks again until the
// stopped set is complete: a process that forks between the look and the
// kill would otherwise escape, and a worker whose environment lacks the
// marker (a program may clear it) is found only through its parent, which
// must still be there when it is looked for. A process whose environment
// cannot be read for a moment (in an exec) is looked at again, not taken
// for unmarked.
func KillMarked(marker string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		current, unknown := markedBelow(marker)
		if len(current) == 0 && unknown == 0 {
			return nil
		}
		if len(current) == 0 {
			if time.Now().After(deadline) {
				return nil // what could not be read is not known to be ours
			}
			time.Sleep(poll)
			continue
		}
		freeze(marker, current)
		for pid := range current {
			unix.Kill(pid, unix.SIGKILL)
		}
		left := make(map[int]bool)
		for pid := range current {
			left[pid] = true
		}
		for len(left) > 0 {
			for pid := range left {
				// Orphans come here; one that is not a child yet answers
				// ECHILD, and the next round tries again.
				Reap(pid)
				if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
					delete(left, pid) // gone: reaped here or by its own parent
				}
			}
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("still there after SIGKILL: %s", describe(left))
			}
			time.Sleep(poll)
		}
	}
}

// markedBelow is Marked, with the count of processes below whose
// environment could not be read.
func markedBelow(marker string) (map[int]proc.Stat, int) {
	below := descendants(os.Getpid())
	return markedOrUnknown(marker, below, below)
}

// freeze stops every process of current with SIGSTOP, then looks for
// marked processes again and adds those it had not seen (forked in
// between), until a look finds none new. A stopped process forks no more.
func freeze(marker string, current map[int]proc.Stat) {
	for grew := true; grew; {
		for pid := range current {
			unix.Kill(pid, unix.SIGSTOP)
		}
		grew = false
		for pid, st := range Marked(marker) {
			if _, ok := current[pid]; !ok {
				current[pid] = st
				grew = true
			}
		}
	}
}

// describe names processes for an error message.
func describe(pids map[int]bool) string {
	var list []int
	for pid := range pids {
		list = append(list, pid)
	}
	sort.Ints(list)
	var names []string
	for _, pid := range list {
		st, _ := proc.ReadStat(pid)
		names = append(names, fmt.Sprintf("%d (%s, state %c, ppid %d)", pid, st.Comm, st.State, st.PPid))
	}
	return strings.Join(names, ", ")
}

// CombinedOutput is cmd.CombinedOutput with cmd claimed while it runs
// (Start, Wait), so that no sweep reaps it before cmd.Wait can.
func CombinedOutput(cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := Start(cmd); err != nil {
		return nil, err
	}
	err := Wait(cmd)
	return out.Bytes(), err
}
