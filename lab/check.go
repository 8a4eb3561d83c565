package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"daemon-steps/internal/steps"
)

// testTimeout bounds one "go test" run of a lab: a step's tests take
// seconds, so this only stops a lab that hangs.
const testTimeout = "5m"

// outputTail is how many lines of a failing test's output -check shows.
const outputTail = 15

// event is one line of "go test -json" (see "go doc test2json").
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail
	Test       string
	Output     string
}

// testRun is what one "go test -json ./..." in a lab came to.
type testRun struct {
	module  string          // the lab's module: its root package
	passed  map[string]bool // top-level tests of the root package, by name
	failed  map[string]bool // (a test elsewhere is named "package.Test")
	skipped map[string]bool
	output  map[string]*strings.Builder // by the same names; "" for the package-level and build output
	// broken lists the packages that failed or did not build although no
	// test of theirs failed: a build error, or TestMain's own failure.
	broken []string
	stderr string // what go test wrote outside its JSON
}

// parseTestJSON reads the events of "go test -json" for a lab of module.
func parseTestJSON(module string, r io.Reader) (*testRun, error) {
	run := &testRun{
		module:  module,
		passed:  make(map[string]bool),
		failed:  make(map[string]bool),
		skipped: make(map[string]bool),
		output:  make(map[string]*strings.Builder),
	}
	failedIn := make(map[string]bool) // packages with a failing test
	var pkgFailed []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Not an event: the go command's own words, kept for the report.
			run.stderr += string(line) + "\n"
			continue
		}
		pkg := e.Package
		if pkg == "" {
			pkg = e.ImportPath
		}
		name, _, sub := strings.Cut(e.Test, "/")
		if name != "" && pkg != module {
			name = pkg + "." + name
		}
		if sub { // a subtest: its output belongs to its top-level test
			if e.Action == "output" {
				run.out(name).WriteString(e.Output)
			}
			continue
		}
		switch e.Action {
		case "output", "build-output":
			run.out(name).WriteString(e.Output)
		case "pass":
			if name != "" {
				run.passed[name] = true
			}
		case "skip":
			if name != "" {
				run.skipped[name] = true
			}
		case "fail", "build-fail":
			if name == "" {
				pkgFailed = append(pkgFailed, pkg)
			} else {
				run.failed[name] = true
				failedIn[pkg] = true
			}
		}
	}
	for _, pkg := range pkgFailed {
		if !failedIn[pkg] && !contains(run.broken, pkg) {
			run.broken = append(run.broken, pkg)
		}
	}
	return run, sc.Err()
}

func (run *testRun) out(name string) *strings.Builder {
	b, ok := run.output[name]
	if !ok {
		b = new(strings.Builder)
		run.output[name] = b
	}
	return b
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// goTest runs "go test -json ./..." in the lab in dir. The go command gets
// this process's environment (GOFLAGS, GOPROXY, GOMODCACHE, ...), with
// GOWORK=off so that no workspace around dir can pull in other modules: the
// lab's go.mod and go.sum name every module it needs, so with those in the
// module cache nothing is downloaded.
func goTest(dir, module string) (*testRun, error) {
	return goTestEnv(dir, module, os.Environ())
}

// goTestEnv is goTest with the environment env (a C lab's leaves ECHOD
// out).
func goTestEnv(dir, module string, env []string) (*testRun, error) {
	cmd := exec.Command("go", "test", "-json", "-count=1", "-timeout="+testTimeout, "./...")
	cmd.Dir = dir
	cmd.Env = append(env, "GOWORK=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return nil, fmt.Errorf("go test: %w", err)
	}
	run, perr := parseTestJSON(module, &stdout)
	if perr != nil {
		return nil, perr
	}
	run.stderr += stderr.String()
	if err != nil && len(run.failed) == 0 && len(run.broken) == 0 {
		// go test failed before it ran a package (a bad go.mod, say).
		run.broken = append(run.broken, "(go test: "+firstLine(run.stderr)+")")
	}
	return run, nil
}

// firstLine returns the first non-empty line of s.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return "no output"
}

// verdict is what -check found for one step.
type verdict struct {
	line       string   // the report's one line
	violations []string // what breaks the rule; none if it holds
	details    []string // the output of what failed, for the reader
}

// judgeBefore checks the run of step N's tests on step N-1's code: some
// test fails, and only tests that step N added.
func judgeBefore(l *lab, run *testRun, v *verdict) string {
	added := make(map[string]bool)
	for _, t := range l.newTests {
		added[t.Name] = true
	}
	var newFails, oldFails []string
	for name := range run.failed {
		if added[name] {
			newFails = append(newFails, name)
		} else {
			oldFails = append(oldFails, name)
		}
	}
	sort.Strings(oldFails)
	newFails = inOrder(l.newTests, newFails)

	if len(l.newTests) == 0 {
		v.violations = append(v.violations, fmt.Sprintf("%s adds no test to %s's", l.step.Name, l.prev.Name))
	} else if len(run.failed) == 0 && len(run.broken) == 0 {
		v.violations = append(v.violations, fmt.Sprintf("before: no test fails on %s's code", l.prev.Name))
	}
	for _, name := range oldFails {
		v.violations = append(v.violations, fmt.Sprintf("before: %s fails on %s's code, though %s did not add it", name, l.prev.Name, l.step.Name))
		v.details = append(v.details, detail("before", name, run))
	}
	v.judgeBroken("before", run)

	msg := fmt.Sprintf("before: %d of %d new tests fail", len(newFails), len(l.newTests))
	if len(newFails) > 0 {
		msg += " (" + strings.Join(newFails, ", ") + ")"
	}
	if len(oldFails) == 0 {
		msg += ", no old test fails"
	} else {
		msg += fmt.Sprintf(", %d old tests fail too (%s)", len(oldFails), strings.Join(oldFails, ", "))
	}
	return msg
}

// judgeAfter checks the run of step N's tests on step N's code: all pass.
func judgeAfter(run *testRun, v *verdict) string {
	var fails []string
	for name := range run.failed {
		fails = append(fails, name)
	}
	sort.Strings(fails)
	for _, name := range fails {
		v.violations = append(v.violations, fmt.Sprintf("after: %s fails on the step's own code", name))
		v.details = append(v.details, detail("after", name, run))
	}
	v.judgeBroken("after", run)

	total := len(run.passed) + len(fails)
	msg := fmt.Sprintf("after: all %d pass", len(run.passed))
	if len(fails) > 0 {
		msg = fmt.Sprintf("after: %d of %d pass (%s fail)", len(run.passed), total, strings.Join(fails, ", "))
	}
	if n := len(run.skipped); n > 0 {
		msg += fmt.Sprintf(", %d skipped", n)
	}
	return msg
}

// judgeBroken adds a violation for each package that failed outside any
// test, and for processes that outlived the tests.
func (v *verdict) judgeBroken(phase string, run *testRun) {
	for _, pkg := range run.broken {
		v.violations = append(v.violations, fmt.Sprintf("%s: package %s fails outside any test (it does not build, or TestMain fails)", phase, pkg))
		v.details = append(v.details, detail(phase, "", run))
	}
	if out := run.output[""]; out != nil && strings.Contains(out.String(), "processes outlive the tests") {
		v.violations = append(v.violations, phase+": processes outlive the tests")
	}
}

// detail returns the last lines of what test name (or, for "", the
// package and the go command) printed.
func detail(phase, name string, run *testRun) string {
	text := run.stderr
	if b := run.output[name]; b != nil {
		text = b.String() + text
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > outputTail {
		lines = append([]string{"..."}, lines[len(lines)-outputTail:]...)
	}
	if name == "" {
		name = "the package"
	}
	return fmt.Sprintf("%s, %s:\n    %s", phase, name, strings.Join(lines, "\n    "))
}

// requirementPrefix begins every test's doc comment: the requirement the
// lab's README states for the test.
const requirementPrefix = "Test that "

// judgeReadme adds a violation for each test of the lab that its README.md
// does not name with a requirement: a line "- `TestName`: Test that ...".
func (v *verdict) judgeReadme(l *lab, dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		return err
	}
	for _, t := range append(append([]testFunc(nil), l.newTests...), l.oldTests...) {
		if !strings.Contains(string(b), "\n- `"+t.Name+"`: "+requirementPrefix) {
			v.violations = append(v.violations, fmt.Sprintf("README.md states no requirement for %s: its doc comment in %s must begin %q", t.Name, l.step.Name, requirementPrefix))
		}
	}
	return nil
}

// inOrder returns names in the order of tests.
func inOrder(tests []testFunc, names []string) []string {
	var out []string
	for _, t := range tests {
		if contains(names, t.Name) {
			out = append(out, t.Name)
		}
	}
	return out
}

// checkStep generates the lab for step n outside the repository, runs its
// tests on the starting code and again on the step's own code (as the lab's
// _solution/README.md tells an instructor to), and judges both runs.
func checkStep(root string, n int) (*verdict, error) {
	tmp, err := os.MkdirTemp("", "labcheck")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if inside(tmp, root) {
		return nil, fmt.Errorf("the temporary directory %s is inside the repository %s: set TMPDIR elsewhere", tmp, root)
	}
	dir := filepath.Join(tmp, fmt.Sprintf("lab%02d", n))
	l, err := generate(options{root: root, step: n, dir: dir, solution: true})
	if err != nil {
		return nil, err
	}
	v := &verdict{}
	if err := v.judgeReadme(l, dir); err != nil {
		return nil, err
	}
	before, err := goTest(dir, l.module)
	if err != nil {
		return nil, err
	}
	beforeMsg := judgeBefore(l, before, v)

	if err := useSolution(dir); err != nil {
		return nil, err
	}
	after, err := goTest(dir, l.module)
	if err != nil {
		return nil, err
	}
	afterMsg := judgeAfter(after, v)
	v.line = fmt.Sprintf("%s: %s; %s", l.step.Name, beforeMsg, afterMsg)
	return v, nil
}

// useSolution replaces the lab's starting code with the code in its
// _solution directory.
func useSolution(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if name := e.Name(); e.Type().IsRegular() && strings.HasSuffix(name, ".go") && isCode(name) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	sol := filepath.Join(dir, solutionDir)
	ents, err = os.ReadDir(sol)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() == "README.md" || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(sol, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// inside reports whether path is root or lies below it.
func inside(path, root string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// check runs checkStep for step only, or for every step from 02 on, one
// after the other (the machine is small), and prints a line for each. It
// returns the command's exit status.
func check(root string, only int, onlyName string, stdout, stderr io.Writer) int {
	var want []int
	if only != 0 {
		if _, _, err := findLab(root, only, onlyName); err != nil {
			fmt.Fprintf(stderr, "lab: %v\n", err)
			return 2
		}
		want = []int{only}
	} else {
		list, err := steps.List(root)
		if err != nil {
			fmt.Fprintf(stderr, "lab: %v\n", err)
			return 1
		}
		for _, s := range list {
			if s.N >= firstLab {
				want = append(want, s.N)
			}
		}
		if len(want) == 0 {
			fmt.Fprintf(stderr, "lab: no step from %02d on in %s\n", firstLab, root)
			return 1
		}
	}
	var bad []string
	for _, n := range want {
		v, err := checkStep(root, n)
		if err != nil {
			fmt.Fprintf(stdout, "step %02d: %v\n", n, err)
			bad = append(bad, fmt.Sprintf("step %02d", n))
			continue
		}
		fmt.Fprintln(stdout, v.line)
		for _, viol := range v.violations {
			fmt.Fprintf(stdout, "  violation: %s\n", viol)
		}
		for _, d := range v.details {
			fmt.Fprintf(stderr, "  %s\n", d)
		}
		if len(v.violations) > 0 {
			name, _, _ := strings.Cut(v.line, ":")
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(stderr, "lab -check: step N-1's code under step N's tests must fail in step N's new tests only, and step N's code pass them all; this does not hold for %s\n", strings.Join(bad, ", "))
		return 1
	}
	return 0
}
