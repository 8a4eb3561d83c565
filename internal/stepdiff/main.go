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
// It also writes every excerpt of the code that a Markdown file in the
// repository quotes (excerpt.go): a README walks through its step's code
// idea by idea, and each excerpt is the code as it is.
//
// With -check it writes nothing and exits with status 1, naming each
// README whose diff is missing or not the one the code gives, and each
// excerpt that is not what its file holds now.
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
	"strings"

	"daemon-steps/internal/steps"
)

const (
	beginMarker = "<!-- BEGIN GENERATED DIFF -->"
	endMarker   = "<!-- END GENERATED DIFF -->"
)

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
	n, err := writeExcerpts(*root, *check, stdout, stderr)
	if err != nil {
		status = 1
		stale = stale || *check
	}
	switch {
	case stale:
		fmt.Fprintf(stderr, "stepdiff: run go run ./internal/stepdiff to bring them up to date\n")
	case status == 0 && changed == 0:
		fmt.Fprintf(stdout, "stepdiff: the diffs in %d step READMEs and %d excerpts are current\n", max(len(list)-1, 0), n)
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

// writeExcerpts brings every excerpt in the repository's Markdown files up
// to date, or with check only reports the stale ones, and returns how many
// excerpts there are. It reports each file it wrote on stdout, and each
// problem on stderr.
func writeExcerpts(root string, check bool, stdout, stderr io.Writer) (int, error) {
	files, err := markdownFiles(root)
	if err != nil {
		fmt.Fprintf(stderr, "stepdiff: %v\n", err)
		return 0, err
	}
	count := 0
	var failed error
	for _, name := range files {
		path := filepath.Join(root, name)
		old, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "stepdiff: %v\n", err)
			failed = err
			continue
		}
		updated, n, err := withExcerpts(string(old), filepath.Dir(path))
		count += n
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintf(stderr, "stepdiff: %s: %s\n", name, line)
			}
			failed = err
		}
		if updated == string(old) {
			continue
		}
		if check {
			fmt.Fprintf(stderr, "stepdiff: %s: an excerpt is not what its file holds now\n", name)
			failed = errors.New("stale excerpt")
			continue
		}
		if err := os.WriteFile(path, []byte(updated), 0o644); err != nil {
			fmt.Fprintf(stderr, "stepdiff: %v\n", err)
			failed = err
			continue
		}
		fmt.Fprintf(stdout, "wrote the excerpts in %s\n", name)
	}
	return count, failed
}
