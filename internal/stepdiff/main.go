// Command stepdiff writes at the end of each step's README.md the diff of
// the step's code from the step before, so that a reader sees what the
// step adds where they read about it.
//
//	go run ./internal/stepdiff          # write the diffs
//	go run ./internal/stepdiff -check   # write nothing; fail on a stale one
//
// For every stepNN-* directory but the first, it runs git diff --no-index
// (three lines of context), file by file, from step N-1 to step N over the
// non-test .go files: tests, README.md and testdata/ are left out. Git is
// there wherever the repository was cloned, and its output is what a
// reader gets by running the same command. The diff goes between the lines
//
//	<!-- BEGIN GENERATED DIFF -->
//	<!-- END GENERATED DIFF -->
//
// as a fenced diff block. A README without the markers, or a step without a
// README, gets a section "The code, step by step" appended, markers and all.
// Text outside the markers is never changed.
//
// With -check it exits with status 1, naming each README whose diff is
// missing or not the one the code gives. It also holds every step to the
// tutorial's size: a step may add at most 90 lines to the step before
// (git diff --no-index --numstat, summed over every file but tests and
// Markdown: testdata and unit files count), except the few in mayAddMore,
// whose READMEs say why. A step over it fails the check, in one line that
// names the two steps and the count.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"daemon-steps/internal/steps"
)

const (
	beginMarker = "<!-- BEGIN GENERATED DIFF -->"
	endMarker   = "<!-- END GENERATED DIFF -->"
)

// maxAdded is how many lines a step may add to the step before: one
// recommendation fits in it.
const maxAdded = 90

// mayAddMore lists the steps that may add more than maxAdded lines.
var mayAddMore = map[int]bool{
	// Reaping brings a cap on the workers and the logging of how they end:
	// step12-reap/README.md, "Longer than a step should be".
	12: true,
	// A chapter of its own, step 12 rewritten as a new-style daemon:
	// step13-newstyle/README.md, "The code, step by step".
	13: true,
}

// section is what a README without the markers gets at its end; the block
// goes between the markers.
const section = "## The code, step by step\n\n" +
	"The code this step adds to the step before, tests and README left out; " +
	"`go run ./internal/stepdiff` writes it, and CI checks it is current.\n\n" +
	beginMarker + "\n" + endMarker + "\n"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command, with its exit status: 0 done or current, 1 a README
// is stale (with -check) or could not be written, 2 a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("stepdiff", flag.ContinueOnError)
	fl.SetOutput(stderr)
	check := fl.Bool("check", false, "write nothing; exit 1 naming each README whose diff is stale or missing")
	root := fl.String("root", "", "the repository's top `directory` (default: found from the working directory)")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "stepdiff: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	if *root == "" {
		var err error
		if *root, err = steps.Root("."); err != nil {
			fmt.Fprintf(stderr, "stepdiff: %v\n", err)
			return 2
		}
	}
	list, err := steps.List(*root)
	if err != nil {
		fmt.Fprintf(stderr, "stepdiff: %v\n", err)
		return 1
	}

	status := 0
	changed := 0
	stale := false
	for i, step := range list {
		if i == 0 {
			continue // the first step has nothing before it
		}
		prev := list[i-1]
		readme := filepath.Join(step.Name, "README.md")
		if prev.N != step.N-1 {
			fmt.Fprintf(stderr, "stepdiff: %s: there is no step %02d before it\n", step.Name, step.N-1)
			status = 1
			continue
		}
		if *check && !mayAddMore[step.N] {
			n, err := addedLines(*root, prev, step)
			if err != nil {
				fmt.Fprintf(stderr, "stepdiff: %s: %v\n", step.Name, err)
				status = 1
			} else if n > maxAdded {
				fmt.Fprintf(stderr, "stepdiff: %s adds %d lines to %s, more than the %d a step may add (tests and Markdown left out)\n", step.Name, n, prev.Name, maxAdded)
				status = 1
			}
		}
		diff, err := stepDiff(*root, prev, step)
		if err != nil {
			fmt.Fprintf(stderr, "stepdiff: %s: %v\n", step.Name, err)
			status = 1
			continue
		}
		path := filepath.Join(*root, readme)
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "stepdiff: %v\n", err)
			status = 1
			continue
		}
		updated, err := withDiff(string(old), diff)
		if err != nil {
			fmt.Fprintf(stderr, "stepdiff: %s: %v\n", readme, err)
			status = 1
			continue
		}
		if updated == string(old) {
			continue
		}
		if *check {
			if hasMarkers(string(old)) {
				fmt.Fprintf(stderr, "stepdiff: %s: the diff is stale\n", readme)
			} else {
				fmt.Fprintf(stderr, "stepdiff: %s: the diff is missing\n", readme)
			}
			status = 1
			stale = true
			continue
		}
		if err := os.WriteFile(path, []byte(updated), 0o644); err != nil {
			fmt.Fprintf(stderr, "stepdiff: %v\n", err)
			status = 1
			continue
		}
		fmt.Fprintf(stdout, "wrote the diff into %s\n", readme)
		changed++
	}
	switch {
	case stale:
		fmt.Fprintf(stderr, "stepdiff: run go run ./internal/stepdiff to bring them up to date\n")
	case status == 0 && changed == 0:
		fmt.Fprintf(stdout, "stepdiff: the diffs in %d step READMEs are current\n", max(len(list)-1, 0))
	}
	return status
}

// stepDiff returns the diff from prev's non-test .go files to step's, file
// by file in the order of their names.
func stepDiff(root string, prev, step steps.Step) (string, error) {
	oldFiles, err := steps.CodeFiles(prev.Dir)
	if err != nil {
		return "", err
	}
	newFiles, err := steps.CodeFiles(step.Dir)
	if err != nil {
		return "", err
	}
	names := make(map[string]bool)
	for _, n := range append(oldFiles, newFiles...) {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)

	var out strings.Builder
	for _, name := range sorted {
		diff, err := gitDiff(root, side(prev, name), side(step, name))
		if err != nil {
			return "", err
		}
		out.WriteString(diff)
	}
	return out.String(), nil
}

// side names file name of step for git diff, relative to the repository's
// root: /dev/null when the step has no such file.
func side(step steps.Step, name string) string {
	if _, err := os.Lstat(filepath.Join(step.Dir, name)); errors.Is(err, fs.ErrNotExist) {
		return "/dev/null"
	}
	return step.Name + "/" + name
}

// addedLines returns how many lines step adds to prev: the added lines of
// git diff --no-index --numstat over the two directories, files named
// *_test.go or *.md left out. A binary file adds none.
func addedLines(root string, prev, step steps.Step) (int, error) {
	out, err := git(root, "--numstat", "-z", "--", prev.Name, step.Name)
	if err != nil || out == "" {
		return 0, err
	}
	// Each file is "ADDED\tDELETED\tPATH\x00", or "ADDED\tDELETED\t\x00OLD\x00NEW\x00"
	// when git pairs two paths (NEW is /dev/null for a removed file).
	fields := strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	total := 0
	for i := 0; i < len(fields); i++ {
		counts := strings.SplitN(fields[i], "\t", 3)
		if len(counts) != 3 {
			return 0, fmt.Errorf("git diff --numstat: unexpected %q", fields[i])
		}
		name := counts[2]
		if name == "" && i+2 < len(fields) {
			name = fields[i+2]
			if name == "/dev/null" {
				name = fields[i+1]
			}
			i += 2
		}
		if base := filepath.Base(name); strings.HasSuffix(base, "_test.go") || strings.HasSuffix(base, ".md") {
			continue
		}
		if counts[0] == "-" {
			continue // binary
		}
		n, err := strconv.Atoi(counts[0])
		if err != nil {
			return 0, fmt.Errorf("git diff --numstat: unexpected %q", fields[i])
		}
		total += n
	}
	return total, nil
}

// gitDiff runs git diff --no-index from old to new in root, as a patch.
func gitDiff(root, old, new string) (string, error) {
	return git(root, "--no-prefix", "--diff-algorithm=myers", "--indent-heuristic", "--unified=3", "--", old, new)
}

// git runs git diff --no-index with args in root. The user's and the
// system's git configuration are left out, and the options that change
// git's output are given, so that every machine gets the same output.
func git(root string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"diff", "--no-index", "--no-color", "--no-ext-diff", "--no-textconv"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		err = nil // 1: the files differ
	}
	if err != nil {
		return "", fmt.Errorf("git diff --no-index %s: %v %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// hasMarkers reports whether readme has a line holding the begin marker.
func hasMarkers(readme string) bool {
	_, _, ok := markerLines(readme)
	return ok
}

// markerLines returns where the line after the begin marker starts and
// where the end marker's line starts.
func markerLines(readme string) (afterBegin, end int, ok bool) {
	lines := strings.SplitAfter(readme, "\n")
	begin, endLine := -1, -1
	pos := 0
	for _, l := range lines {
		switch strings.TrimSpace(l) {
		case beginMarker:
			if begin < 0 {
				begin = pos + len(l)
			}
		case endMarker:
			if begin >= 0 && endLine < 0 {
				endLine = pos
			}
		}
		pos += len(l)
	}
	if begin < 0 || endLine < 0 {
		return 0, 0, false
	}
	return begin, endLine, true
}

// withDiff returns readme with diff as the fenced block between the
// markers, appending the section that holds them when it has none.
func withDiff(readme, diff string) (string, error) {
	if !hasMarkers(readme) {
		if strings.Contains(readme, beginMarker) || strings.Contains(readme, endMarker) {
			return "", errors.New("a generated-diff marker is there but not both, each on a line of its own, begin before end")
		}
		switch {
		case readme == "":
		case strings.HasSuffix(readme, "\n\n"):
		case strings.HasSuffix(readme, "\n"):
			readme += "\n"
		default:
			readme += "\n\n"
		}
		readme += section
	}
	afterBegin, end, _ := markerLines(readme)
	return readme[:afterBegin] + fenced(diff) + readme[end:], nil
}

// fenced puts diff in a Markdown code block marked as a diff, with a fence
// longer than any run of backquotes in it.
func fenced(diff string) string {
	longest, run := 0, 0
	for _, c := range diff {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	return fence + "diff\n" + diff + fence + "\n"
}
