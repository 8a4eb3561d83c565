package main

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

// markerEnv is set in the environment of every process the tour launches,
// to the sandbox it belongs to. The processes those start inherit it; that
// is how the tour finds, when it stops a step, every process the step
// left, however far it has wandered from its launcher.
const markerEnv = "TOUR_SANDBOX"

// becomeSubreaper makes the tour a child subreaper: a daemon orphaned by its
// launcher comes to the tour instead of init, so the tour can collect its
// exit status and its zombies, and sees it as a child (ppid = the tour).
func becomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become a child subreaper: %w", err)
	}
	return nil
}

// reaper keeps apart the children that os/exec waits for from the orphans
// the tour reaps itself: reaping a child that exec.Cmd.Wait still waits for
// would leave Wait with ECHILD instead of its exit status.
type reaper struct {
	mu      sync.Mutex
	claimed map[int]bool
}

// children is the tour's reaper; there is one subreaper per process.
var children = &reaper{claimed: make(map[int]bool)}

// start starts cmd and claims it for cmd.Wait, under the lock, so that no
// sweep sees it between the two.
func (r *reaper) start(cmd *exec.Cmd) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.claimed[cmd.Process.Pid] = true
	return nil
}

// wait waits for a command that start started, and releases its claim.
func (r *reaper) wait(cmd *exec.Cmd) error {
	err := cmd.Wait()
	r.mu.Lock()
	delete(r.claimed, cmd.Process.Pid)
	r.mu.Unlock()
	return err
}

// reap collects pid's exit status if it is a child of the tour that nobody
// else waits for and has exited. ok is false if it has not (yet).
func (r *reaper) reap(pid int) (ws unix.WaitStatus, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.claimed[pid] {
		return ws, false
	}
	got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	return ws, err == nil && got == pid
}

// sweep reaps every exited child of the tour that nobody waits for: orphans
// that came to it after they exited, such as workers of a server that was
// killed. It returns their pids.
func (r *reaper) sweep() []int {
	var reaped []int
	kids, _ := proc.Children(os.Getpid())
	for _, k := range kids {
		if k.State != 'Z' {
			continue
		}
		if _, ok := r.reap(k.Pid); ok {
			reaped = append(reaped, k.Pid)
		}
	}
	return reaped
}

// marked returns the processes whose environment holds marker (such as
// "TOUR_SANDBOX=/tmp/tour123/07\x00"), and their descendants, zombies
// included: a zombie has no environment left to read, but its parent is
// still known.
func marked(marker string) map[int]proc.Stat {
	all, _ := proc.All()
	mine := make(map[int]proc.Stat)
	for _, st := range all {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", st.Pid))
		if err == nil && bytes.Contains(env, []byte(marker)) && st.Pid != os.Getpid() {
			mine[st.Pid] = st
		}
	}
	for grew := true; grew; {
		grew = false
		for _, st := range all {
			if _, ok := mine[st.Pid]; ok {
				continue
			}
			if _, ok := mine[st.PPid]; ok {
				mine[st.Pid] = st
				grew = true
			}
		}
	}
	return mine
}

// killMarked kills every process that carries marker, with its
// descendants, and reaps those that are (or become) the tour's children.
// It returns an error naming any that are still there after timeout.
func killMarked(marker string, timeout time.Duration) error {
	known := make(map[int]bool)
	deadline := time.Now().Add(timeout)
	for {
		current := marked(marker)
		for pid := range current {
			known[pid] = true
		}
		for pid := range known {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				delete(known, pid) // gone: reaped by the tour or by its own parent
				continue
			}
			if _, ok := current[pid]; ok {
				unix.Kill(pid, unix.SIGKILL)
			}
			// Orphans come to the tour; one that is not its child yet
			// answers ECHILD, and the next round tries again.
			children.reap(pid)
		}
		if len(known) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes outlive the tour: %s", describe(known))
		}
		time.Sleep(poll)
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
