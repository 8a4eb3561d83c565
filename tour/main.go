// Command tour shows what each step of the tutorial makes true. It builds
// every step, launches each the way that gives every recommendation
// something to show (from a shell on a terminal of its own, under umask
// 000, with a descriptor left open), looks at /proc, and prints a table: a
// row per step, a column per recommendation.
//
//	go run ./tour              the table
//	go run ./tour -step 7      one step in depth: its process tree and the evidence
//	go run ./tour -pid PID     the checklist for any running process, from /proc alone,
//	                           and daemon(7)'s new-style list when a manager started it
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"daemon-steps/internal/launch"
	"daemon-steps/internal/property"
)

func main() {
	os.Exit(tourCommand(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: go run ./tour [-step N | -pid PID]

With no flag, build and launch every step and print a table: a row per
step, a column per Comer-Stevens recommendation, each cell what /proc
showed and whether the recommendation holds (✓) or not (✗).

  -step N    tour step N alone, in depth: its processes drawn as sessions
             and groups, and for each recommendation the evidence and the
             command that shows it by hand
  -pid PID   check a running process, any on this machine, from /proc alone;
             one that a service manager started, against daemon(7)'s
             new-style list too

Colour is used when standard output is a terminal and NO_COLOR is unset.
Lines fit the terminal's width, or COLUMNS when standard output is not a
terminal; under 230 columns the table is printed transposed.
`

// tourCommand is the tour command, with its exit status: 0 when it did what was asked,
// 1 when it could not, 2 for a bad command line, 130 after Ctrl-C.
func tourCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tour", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line below, not with the usage
	stepArg := fs.String("step", "", "")
	pidArg := fs.String("pid", "", "")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case err != nil:
		return complain(stderr, 2, "%v (tour -h tells the flags)", err)
	case fs.NArg() > 0:
		return complain(stderr, 2, "unexpected argument %q (tour -h tells the flags)", fs.Arg(0))
	case *stepArg != "" && *pidArg != "":
		return complain(stderr, 2, "-step and -pid do not go together")
	}
	st := newStyle(stdout)
	if *pidArg != "" {
		return runPid(*pidArg, stdout, stderr, st)
	}
	opt := Options{}
	if *stepArg != "" {
		n, err := strconv.Atoi(strings.TrimLeft(*stepArg, "0"))
		if err != nil || n < 1 {
			return complain(stderr, 2, "-step %q: want a step number from 1 on", *stepArg)
		}
		opt.Steps = []int{n}
	}
	return runTour(opt, stdout, stderr, st)
}

// runTour tours the steps of opt and prints the table, or the one step in
// depth. Ctrl-C (or SIGTERM) stops the tour; it still stops every process
// it started before it exits.
func runTour(opt Options, stdout, stderr io.Writer, st style) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(interrupts)
	go func() {
		if _, ok := <-interrupts; ok {
			cancel()
		}
	}()

	report, err := Tour(ctx, opt)
	switch {
	case ctx.Err() != nil:
		return complain(stderr, 130, "interrupted; every process the tour started is stopped")
	case err != nil:
		return complain(stderr, 1, "%v", err)
	}
	out := fit(stdout, st)
	if opt.Steps != nil {
		renderStep(out, report, report.Rows[0], st)
	} else {
		renderTable(out, report, st)
	}
	out.flush()
	if report.Failed() {
		return 1
	}
	return 0
}

// runPid checks the running process pid against the twelve properties,
// and, when it looks like a managed service, daemon(7)'s new-style list.
func runPid(arg string, stdout, stderr io.Writer, st style) int {
	pid, err := strconv.Atoi(arg)
	if err != nil || pid <= 0 {
		return complain(stderr, 1, "-pid %q: not a process id", arg)
	}
	snap, err := launch.TakeSnapshot(pid)
	if err != nil {
		return complain(stderr, 1, "-pid %d: no such process", pid)
	}
	s := &property.Subject{Snap: snap}
	out := fit(stdout, st)
	renderPid(out, s, property.Check(s), st)
	out.flush()
	return 0
}

// complain prints one line on stderr and returns code.
func complain(stderr io.Writer, code int, format string, args ...any) int {
	fmt.Fprintf(stderr, "tour: "+format+"\n", args...)
	return code
}
