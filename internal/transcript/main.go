// Command transcript runs every command that the READMEs show, in order,
// and checks that each one prints what the README says and exits with the
// status it shows. CI runs it (.ci/run); run it yourself, as root, from the
// repository's root:
//
//	go run ./internal/transcript                       # every README
//	go run ./internal/transcript step07-lock/README.md # one
//
// Why not testscript: a README shows what a student types into bash, with
// pipes, $(...), subshells and background jobs, and testscript's script
// language has none of these. Translating each transcript into it would
// make a second copy that drifts from the README. This runner executes the
// README's own text, in bash.
//
// Each README runs in a sandbox of its own, so that its fixed paths
// (/tmp/s07.sock) never meet another run's or the program's defaults, and
// so that nothing it starts can outlive it:
//
//   - a new pid namespace, whose first process is this program in the role
//     of init: it adopts and reaps the orphans, so a daemon's parent shows
//     as 1, as on a machine without a subreaper; when it exits, the kernel
//     kills everything left in the namespace;
//   - a new mount namespace, with a fresh /proc and a private, empty /tmp;
//   - a pseudo-terminal as the shell's controlling terminal, and job
//     control on, as in a terminal window.
//
// The pid namespace starts numbering at 10000, so every pid has at least
// three digits and is matched as a variable (see match.go).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"daemon-steps/internal/launch"
)

func main() {
	if os.Getenv(roleEnv) == roleInit {
		os.Exit(runInit())
	}
	os.Exit(run())
}

func run() int {
	verbose := flag.Bool("v", false, "print every command and its output")
	timeout := flag.Duration("timeout", 3*time.Minute, "the longest one command may take (go test ./... is one)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./internal/transcript [-v] [-timeout D] [README.md ...]\n"+
			"Runs the commands each README shows and compares their output and exit status.\n"+
			"With no README named, runs README.md, every step*/README.md, tour/README.md, LABS.md,\n"+
			"c/README.md and PERFORMANCE.md. Needs root.\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	// The sandbox starts clean: no descriptor this program inherited
	// reaches the READMEs' commands, where step 02's would show it.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, "transcript: mark inherited descriptors close-on-exec:", err)
		return 1
	}
	// The READMEs show what a shell in a terminal window prints, where
	// SIGHUP and the others are at their default action: a run started
	// under nohup must not pass its ignored SIGHUP on to the commands,
	// where step 03's server would survive a hangup and step 09's SigIgn
	// would show it.
	launch.ResetInheritedSignals()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "transcript: needs root, for the private /tmp and pid namespace each README runs in")
		return 1
	}
	files := flag.Args()
	if len(files) == 0 {
		steps, err := filepath.Glob("step*/README.md")
		if err != nil || len(steps) == 0 {
			fmt.Fprintln(os.Stderr, "transcript: no step*/README.md here: run it from the repository's root")
			return 1
		}
		sort.Strings(steps)
		files = append(append([]string{"README.md"}, steps...), "tour/README.md", "LABS.md", "c/README.md", "PERFORMANCE.md")
	}
	root, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "transcript:", err)
		return 1
	}
	failed := 0
	for _, f := range files {
		cmds, err := parseFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "transcript:", err)
			return 1
		}
		start := time.Now()
		err = runFile(root, cmds, *timeout, *verbose)
		if err != nil {
			failed++
			fmt.Printf("FAIL %s (%d commands, %.1fs)\n    %v\n", f, len(cmds), time.Since(start).Seconds(), err)
			continue
		}
		fmt.Printf("ok   %s (%d commands, %.1fs)\n", f, len(cmds), time.Since(start).Seconds())
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "transcript: %d of %d READMEs do not run as they show\n", failed, len(files))
		return 1
	}
	return 0
}
