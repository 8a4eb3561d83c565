// Command sigchld shows why a server reaps in a loop. It starts several
// children that exit at the same moment, and collects them as one of the
// handout's two SIGCHLD handlers would:
//
//	go run ./demo/sigchld -handler once   # one wait() per SIGCHLD
//	go run ./demo/sigchld -handler loop   # waitpid(-1, WNOHANG) until 0
//
// A standard signal does not queue: while one SIGCHLD is pending, more
// children that exit add nothing. So "once" reaps fewer children than
// exited, and the rest stay zombies; "loop" reaps them all. Before it
// exits the program reaps every child it started, whatever the handler,
// so it leaves nothing behind.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// settle is long enough for every child to have exited and its SIGCHLD to
// have arrived, so that the handler sees them all at once, as a busy
// server would.
const settle = 300 * time.Millisecond

func main() {
	handler := flag.String("handler", "loop", "how to reap on SIGCHLD: once (one wait per signal) or loop (waitpid(-1, WNOHANG) until none is left)")
	n := flag.Int("children", 5, "how many children exit at once")
	flag.Parse()
	if (*handler != "once" && *handler != "loop") || *n < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "sigchld: usage: go run ./demo/sigchld [-handler once|loop] [-children N]")
		os.Exit(2)
	}
	if err := run(*handler, *n); err != nil {
		fmt.Fprintln(os.Stderr, "sigchld:", err)
		os.Exit(1)
	}
}

func run(handler string, n int) error {
	// The channel holds one signal, as the kernel holds one pending
	// SIGCHLD: Go drops a signal that finds the channel full.
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	defer reapAll()

	pids, release, err := startChildren(n)
	if err != nil {
		return err
	}
	release() // every child exits now
	time.Sleep(settle)

	signals, reaped := 0, 0
	for {
		select {
		case <-sigchld:
			signals++
			reaped += reap(handler)
			continue
		default:
		}
		break
	}
	zombies := countZombies(pids)
	fmt.Printf("%d children exited at once; %d SIGCHLD handled; %s handler reaped %d; zombies left: %d\n",
		n, signals, handler, reaped, zombies)
	return nil
}

// startChildren starts n shells that wait on a pipe; closing the
// pipe's writing end makes them all exit together.
func startChildren(n int) (pids []int, release func(), err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	for range n {
		// "read" blocks until the pipe closes, then the shell exits.
		pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "read x"},
			&syscall.ProcAttr{Files: []uintptr{r.Fd(), 1, 2}})
		if err != nil {
			w.Close()
			return pids, nil, fmt.Errorf("start child: %w", err)
		}
		pids = append(pids, pid)
	}
	return pids, func() { w.Close() }, nil
}

// reap is the SIGCHLD handler: "once" calls wait() one time, "loop" calls
// waitpid(-1, WNOHANG) until it returns 0 or ECHILD. It returns how many
// children it reaped.
func reap(handler string) int {
	if handler == "once" {
		var ws unix.WaitStatus
		if pid, err := unix.Wait4(-1, &ws, 0, nil); err == nil && pid > 0 {
			return 1
		}
		return 0
	}
	reaped := 0
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return reaped
		}
		reaped++
	}
}

// countZombies counts the children in state Z, from /proc.
func countZombies(pids []int) int {
	zombies := 0
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue // reaped: gone
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && strings.HasPrefix(s[i+1:], " Z") {
			zombies++
		}
	}
	return zombies
}

// reapAll waits for every child still there, so the demo leaves nothing.
func reapAll() {
	for {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(-1, &ws, 0, nil); errors.Is(err, unix.EINTR) {
			continue
		} else if err != nil {
			return
		}
	}
}
