package main

// The catalogue of common mistakes: each step keeps, in its mistakes
// directory, patches that make the mistakes students make in that step's
// new code. "lab -mistakes" proves that the tests catch each one: it
// applies the patch to a copy of the step, with the step's tests, runs the
// test the patch names, and requires it to fail with the message the patch
// quotes. It also keeps each step README's "Common mistakes" section, made
// from the patches, current (-write rewrites it).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"daemon-steps/internal/steps"
)

// mistakesDir is where a step keeps its mistakes, one NAME.patch each.
const mistakesDir = "mistakes"

// mistakeRuns is how many builds or test runs go at once: each builds a
// step's tests or a patched program, and the machine is small.
const mistakeRuns = 2

// mistake is one patch of a step's catalogue. The text before the patch's
// first "diff --git" line, which git apply ignores, holds its fields, one a
// line: "Mistake: ...", "Why: ...", "Caught by: TestName", "Message: ...".
type mistake struct {
	step    steps.Step
	name    string // the patch's file name without .patch
	path    string // the patch file
	what    string // Mistake: the mistake, in a line
	why     string // Why: what breaks, for whom
	test    string // Caught by: the test that fails
	message string // Message: a part of the failure message the student sees
}

// readMistakes returns the mistakes of step, in the order of their names.
func readMistakes(step steps.Step) ([]mistake, error) {
	paths, err := filepath.Glob(filepath.Join(step.Dir, mistakesDir, "*.patch"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var list []mistake
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		m := mistake{step: step, name: strings.TrimSuffix(filepath.Base(p), ".patch"), path: p}
		preamble, _, found := strings.Cut(string(b), "diff --git ")
		if !found {
			return nil, fmt.Errorf("%s: no \"diff --git\" line: not a patch git apply takes", p)
		}
		for _, line := range strings.Split(preamble, "\n") {
			key, value, ok := strings.Cut(line, ":")
			value = strings.TrimSpace(value)
			switch {
			case !ok:
			case key == "Mistake":
				m.what = value
			case key == "Why":
				m.why = value
			case key == "Caught by":
				m.test = value
			case key == "Message":
				m.message = value
			}
		}
		if m.what == "" || m.why == "" || m.message == "" || !regexp.MustCompile(`^Test\w+$`).MatchString(m.test) {
			return nil, fmt.Errorf("%s: the text before the patch must give the fields Mistake, Why, Caught by (a TestName) and Message", p)
		}
		list = append(list, m)
	}
	return list, nil
}

// Markers around the "Common mistakes" section of a step README.
const (
	mistakesBegin = "<!-- BEGIN GENERATED MISTAKES: go run ./lab -mistakes -write -->"
	mistakesEnd   = "<!-- END GENERATED MISTAKES -->"
)

// mistakesSection is the "Common mistakes" section made from list: the
// mistake, why it is wrong, and what the student sees. withPatches names
// the patch files, which a lab does not hand out.
func mistakesSection(list []mistake, withPatches bool) string {
	var b strings.Builder
	b.WriteString("## Common mistakes\n\n")
	b.WriteString("Each of these passes a quick try by hand. The tests catch it:\n")
	if withPatches {
		b.WriteString("each is a patch in [mistakes/](mistakes/), and `go run ./lab -mistakes` proves that the test named fails on it.\n")
	} else {
		b.WriteString("the test named fails on it.\n")
	}
	for _, m := range list {
		fmt.Fprintf(&b, "\n- **%s**", m.what)
		if withPatches {
			fmt.Fprintf(&b, " ([%s.patch](mistakes/%s.patch))", m.name, m.name)
		}
		fmt.Fprintf(&b, "\n  %s\n  `%s` fails, saying: \"%s\".\n", m.why, m.test, m.message)
	}
	return b.String()
}

// withMistakesSection returns readme with its section replaced by section,
// or inserted before "## The code, step by step" (the generated diff), or
// else appended.
func withMistakesSection(readme, section string) string {
	block := mistakesBegin + "\n" + section + mistakesEnd + "\n"
	if i := strings.Index(readme, mistakesBegin); i >= 0 {
		if j := strings.Index(readme[i:], mistakesEnd+"\n"); j >= 0 {
			return readme[:i] + block + readme[i+j+len(mistakesEnd)+1:]
		}
	}
	if i := strings.Index(readme, "\n## The code, step by step\n"); i >= 0 {
		return readme[:i+1] + block + "\n" + readme[i+1:]
	}
	return strings.TrimRight(readme, "\n") + "\n\n" + block
}

// mistakesOf returns the steps to work on (only, or all) with their mistakes.
func mistakesOf(root string, only int) ([]steps.Step, map[int][]mistake, error) {
	list, err := steps.List(root)
	if err != nil {
		return nil, nil, err
	}
	var want []steps.Step
	byStep := map[int][]mistake{}
	for _, s := range list {
		if only != 0 && s.N != only {
			continue
		}
		ms, err := readMistakes(s)
		if err != nil {
			return nil, nil, err
		}
		want, byStep[s.N] = append(want, s), ms
	}
	if len(want) == 0 {
		return nil, nil, refuse("-step %d: there is no such step in %s", only, root)
	}
	return want, byStep, nil
}

// runMistakes is "lab -mistakes": with write, it rewrites the READMEs'
// sections; otherwise it checks them and tries every mistake.
func runMistakes(root string, only int, write bool, stdout, stderr io.Writer) int {
	want, byStep, err := mistakesOf(root, only)
	if err != nil {
		fmt.Fprintf(stderr, "lab: %v\n", err)
		return 1
	}
	var bad []string
	var all []mistake
	for _, s := range want {
		ms := byStep[s.N]
		all = append(all, ms...)
		path := filepath.Join(s.Dir, "README.md")
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "lab: %v\n", err)
			return 1
		}
		if len(ms) < 3 {
			bad = append(bad, fmt.Sprintf("%s has %d mistakes in %s/; every step keeps at least three", s.Name, len(ms), mistakesDir))
		}
		updated := withMistakesSection(string(b), mistakesSection(ms, true))
		switch {
		case updated == string(b):
		case write:
			if err := os.WriteFile(path, []byte(updated), 0o644); err != nil {
				fmt.Fprintf(stderr, "lab: %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "wrote the Common mistakes section of %s\n", path)
		default:
			bad = append(bad, fmt.Sprintf("%s's \"Common mistakes\" section is not what its %s/ makes: run go run ./lab -mistakes -write", s.Name, mistakesDir))
		}
	}
	if write {
		return 0
	}
	started := time.Now()
	results, err := tryMistakes(root, want, byStep)
	if err != nil {
		fmt.Fprintf(stderr, "lab: %v\n", err)
		return 1
	}
	for _, m := range all {
		fmt.Fprintln(stdout, results[m.key()])
		if strings.Contains(results[m.key()], "NOT CAUGHT") {
			bad = append(bad, m.key()+" is not caught as its patch says")
		}
	}
	fmt.Fprintf(stdout, "%d mistakes in %d steps tried in %.0fs\n", len(all), len(want), time.Since(started).Seconds())
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintf(stderr, "lab -mistakes: %s\n", b)
		}
		return 1
	}
	return 0
}

// mistakeTimeout bounds one mistake's test run; the daemontest machinery
// bounds every wait far below it.
const mistakeTimeout = 3 * time.Minute

// key names m among all the mistakes tried.
func (m mistake) key() string { return m.step.Name + "/" + m.name }

// tryMistakes tries every mistake of the steps in want, mistakeRuns at a
// time, and returns a line on each, by its key. A patch changes a step's
// program, never its tests: so each step's tests are built once, into a
// test binary, in a lab of the step with its solution (as a lab is made:
// a module of its own, outside the repository), and each mistake runs that
// binary in a copy of the lab with the patch applied, where the tests'
// TestMain builds the patched program (daemontest, with go build).
func tryMistakes(root string, want []steps.Step, byStep map[int][]mistake) (map[string]string, error) {
	tmp, err := os.MkdirTemp("", "mistakes")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if inside(tmp, root) {
		return nil, fmt.Errorf("the temporary directory %s is inside the repository %s: set TMPDIR elsewhere", tmp, root)
	}
	var mu sync.Mutex
	results := map[string]string{}
	report := func(m mistake, verdict string, t0 time.Time) {
		mu.Lock()
		defer mu.Unlock()
		results[m.key()] = fmt.Sprintf("%s: %s by %s (%.1fs)", m.key(), verdict, m.test, time.Since(t0).Seconds())
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, mistakeRuns)
	for _, s := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			sem <- struct{}{}
			lab, binary, err := prepareMistakes(root, filepath.Join(tmp, s.Name), s)
			<-sem
			for _, m := range byStep[s.N] {
				if err != nil {
					report(m, "NOT CAUGHT: "+err.Error(), t0)
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					t0 := time.Now()
					verdict := "caught"
					if err := tryMistake(lab, binary, filepath.Join(tmp, s.Name+"-"+m.name), m); err != nil {
						verdict = "NOT CAUGHT: " + err.Error()
					}
					report(m, verdict, t0)
				}()
			}
		}()
	}
	wg.Wait()
	return results, nil
}

// prepareMistakes writes, under dir, the lab of step with its solution,
// and builds the step's tests into a test binary. It returns the lab's
// directory and the binary.
func prepareMistakes(root, dir string, step steps.Step) (lab, binary string, err error) {
	lab = filepath.Join(dir, "lab")
	// A lab holds step N's tests and, with its solution, step N's code.
	// Step 01 has no lab: the lab of step 02 starts from its code, and
	// step 02's tests hold all of step 01's.
	n, solution := step.N, true
	if n < firstLab {
		n, solution = firstLab, false
	}
	if _, err := generate(options{root: root, step: n, dir: lab, solution: solution}); err != nil {
		return "", "", err
	}
	if solution {
		if err := useSolution(lab); err != nil {
			return "", "", err
		}
	}
	binary = filepath.Join(dir, "step.test")
	build := exec.Command("go", "test", "-c", "-o", binary, ".")
	build.Dir = lab
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go test -c in the lab of %s: %v: %s", step.Name, err, lastLines(out, 5))
	}
	return lab, binary, nil
}

// tryMistake copies lab to dir, applies m there, and runs the test that m
// names with the step's test binary in dir. It returns an error unless the
// test fails, with m's message in its output.
func tryMistake(lab, binary, dir string, m mistake) error {
	defer os.RemoveAll(dir)
	if err := os.CopyFS(dir, os.DirFS(lab)); err != nil {
		return fmt.Errorf("copy the lab: %w", err)
	}
	apply := exec.Command("git", "apply", "--whitespace=nowarn", m.path)
	apply.Dir = dir
	if out, err := apply.CombinedOutput(); err != nil {
		return fmt.Errorf("git apply %s: %v: %s", m.path, err, bytes.TrimSpace(out))
	}
	ctx, cancel := context.WithTimeout(context.Background(), mistakeTimeout)
	defer cancel()
	test := exec.CommandContext(ctx, binary, "-test.run", "^"+m.test+"$", "-test.timeout", mistakeTimeout.String())
	test.Dir = dir
	test.Env = append(os.Environ(), "GOWORK=off")
	test.WaitDelay = time.Minute // a process left holding the output
	out, err := test.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return fmt.Errorf("%s passed on the mistake", m.test)
	case !errors.As(err, &exit):
		return fmt.Errorf("%s: %v", m.test, err)
	case !bytes.Contains(out, []byte("--- FAIL: "+m.test)):
		return fmt.Errorf("%s did not run and fail (the patched program does not build?): %s", m.test, lastLines(out, 5))
	case !bytes.Contains(out, []byte(m.message)):
		return fmt.Errorf("%s failed without the message %q: %s", m.test, m.message, lastLines(out, 8))
	}
	return nil
}

// lastLines returns the last n lines of out, on one line.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// labMistakes is the "Common mistakes" section of the lab of l's step,
// without the patches, followed by a blank line; "" if it has none.
func labMistakes(l *lab) (string, error) {
	list, err := readMistakes(l.step)
	if err != nil || len(list) == 0 {
		return "", err
	}
	return mistakesSection(list, false) + "\n", nil
}
