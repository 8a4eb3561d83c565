// Command bench measures what a connection costs each server: the steps
// built as a reader builds them (a plain go build), a C server that forks
// per connection, the C companion of step 12 (c/echod.c: the same daemon,
// forking where Go re-executes), a minimal Go server that re-executes
// itself per connection, and an ordinary Go server with a goroutine per
// connection.
// It prints one table, with every number also as a ratio to the C server,
// and says whether step 12 meets the goals that PERFORMANCE.md sets.
//
//	go run ./bench                    the table (under two minutes on 2 cores)
//	go run ./bench -markdown          the same, as PERFORMANCE.md shows it
//	go run ./bench -server name=PATH  measure one more server as well
//
// Every server runs in a temporary directory of its own, with its own
// socket, pid file and log. The bench is a child subreaper, so the daemons
// that escape their launchers come back to it, and it kills and reaps every
// process it caused before it exits, also after an error or Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: go run ./bench [-markdown] [-short] [-servers LIST] [-server NAME=PATH]...

Builds each server, launches it in a temporary directory of its own, and
measures, from a client on the same machine, over Unix-domain sockets:

  launch      from starting the program to the first accepted connection,
              and the CPU time its processes used (launch CPU)
  RTT         round trip of 64 bytes on an open connection, p50 and p99
  MB/s        echoed on one connection, written in 64 KiB chunks
  conn/s      connect, echo 64 bytes, close, with 1 and with 8 dialers
  CPU/conn    CPU time of the server and its workers per connection, less
              the launch's
  PSS/conn    proportional set size of the server's process tree per idle
              connection (/proc/PID/smaps_rollup)

  -markdown        print the tables in Markdown, as PERFORMANCE.md shows them
  -short           a quick run with few samples (seconds; the numbers are rough)
  -servers LIST    measure only these, comma-separated (default: all of
                   c,goroutines,reexec,step01,step06,step12,cstep12)
  -server NAME=PATH
                   measure one more step-like server: PATH is a binary, or a
                   package directory to go build; it is launched as the steps
                   are (-socket, and -pidfile, -log, -syslog if it has them)
`

// exit statuses
const (
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// run is the command, with its exit status.
func run(args []string, stdout, stderr io.Writer) int {
	opt, err := parseFlags(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "bench: %v (bench -h tells the flags)\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(interrupts)
	go func() {
		if _, ok := <-interrupts; ok {
			cancel()
		}
	}()

	report, err := Run(ctx, opt, newProgress(stderr))
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "bench: interrupted; every process it started is stopped")
		return exitInterrupted
	case err != nil:
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitFailed
	}
	if opt.Markdown {
		writeMarkdown(stdout, report)
	} else {
		writeText(stdout, report)
	}
	return 0
}

// parseFlags reads the command line into Options.
func parseFlags(args []string) (Options, error) {
	opt := defaultOptions()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line, not with the usage
	fs.BoolVar(&opt.Markdown, "markdown", false, "")
	short := fs.Bool("short", false, "")
	servers := fs.String("servers", strings.Join(defaultServers, ","), "")
	fs.Func("server", "", func(s string) error {
		// The last "=" ends the name, which may itself hold one ("GOGC=off").
		i := strings.LastIndex(s, "=")
		name, path := s[:max(i, 0)], s[i+1:]
		if i < 0 || name == "" || path == "" {
			return fmt.Errorf("want NAME=PATH, not %q", s)
		}
		opt.Extra = append(opt.Extra, Extra{Name: name, Path: path})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return opt, err
	}
	if fs.NArg() > 0 {
		return opt, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *short {
		opt.shorten()
	}
	opt.Servers = nil
	for _, key := range strings.Split(*servers, ",") {
		if key = strings.TrimSpace(key); key == "" {
			continue
		}
		if !isBuiltin(key) {
			return opt, fmt.Errorf("-servers: no server %q (there are %s)", key, strings.Join(defaultServers, ", "))
		}
		opt.Servers = append(opt.Servers, key)
	}
	return opt, nil
}

// Options says what to measure, and how long.
type Options struct {
	Servers  []string // the built-in servers to measure, by key
	Extra    []Extra  // more step-like servers (-server)
	Markdown bool
	Root     string // the repository; found from the working directory if empty
	Dir      string // where the sandboxes go; a new temporary directory if empty

	Rounds      int           // how many times each server is measured; the median is shown
	Launches    int           // launches timed per server and round
	RoundTrips  int           // 64-byte round trips timed
	Stream      time.Duration // how long one connection streams 64 KiB chunks
	Dialing     time.Duration // how long each connections/s run dials
	Idle        int           // idle connections held for the PSS
	Description string        // "default" or "short", for the report
}

// Extra is a server given with -server.
type Extra struct {
	Name string
	Path string
}

// defaultOptions is the run that PERFORMANCE.md shows: about fifteen
// seconds a server on 2 cores.
func defaultOptions() Options {
	return Options{
		Servers:     defaultServers,
		Rounds:      3,
		Launches:    3,
		RoundTrips:  2000,
		Stream:      time.Second,
		Dialing:     time.Second,
		Idle:        32,
		Description: "default",
	}
}

// shorten makes the run a quick one, for the smoke test and CI: every
// measurement runs, on few samples.
func (o *Options) shorten() {
	o.Rounds = 1
	o.Launches = 1
	o.RoundTrips = 200
	o.Stream = 100 * time.Millisecond
	o.Dialing = 100 * time.Millisecond
	o.Idle = 4
	o.Description = "short"
}
