package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"daemon-steps/internal/steps"
)

// The C companion (c/echod.c) is one source that "cc -DSTEP=N" builds for
// each step from 01 to cLastStep; the Go steps' tests grade it through the
// ECHOD variable (internal/daemontest).
const (
	cSource   = "c/echod.c"
	cLastStep = 12
	cFlags    = "-std=c11 -O2 -Wall -Wextra -Werror"
)

// checkC is -check -lang c: for each step N from 01 to cLastStep (or step N
// alone) it runs step N's tests on the C companion built for step N, and
// requires all to pass; and, from step 02, on the C built for step N-1, and
// requires them to fail in tests that step N added only: the rule that
// -check proves of the Go steps. It prints one line per step and returns
// the command's exit status.
func checkC(root string, only int, stdout, stderr io.Writer) int {
	list, err := steps.List(root)
	if err != nil {
		fmt.Fprintf(stderr, "lab: %v\n", err)
		return 1
	}
	if only < 0 || only > cLastStep || (only > 0 && !hasStep(list, only)) {
		fmt.Fprintf(stderr, "lab: -lang c: the C companion has steps 01 to %02d\n", cLastStep)
		return 2
	}
	tmp, err := os.MkdirTemp("", "labcheck-c")
	if err != nil {
		fmt.Fprintf(stderr, "lab: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	module, err := steps.ModulePath(root)
	if err != nil {
		fmt.Fprintf(stderr, "lab: %v\n", err)
		return 1
	}

	var bad []string
	for _, step := range list {
		if step.N < 1 || step.N > cLastStep || (only != 0 && step.N != only) {
			continue
		}
		v, err := checkCStep(root, module, tmp, list, step)
		if err != nil {
			fmt.Fprintf(stdout, "%s (C): %v\n", step.Name, err)
			bad = append(bad, step.Name)
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
			bad = append(bad, step.Name)
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(stderr, "lab -check -lang c: the C companion built for step N must pass step N's tests, and built for step N-1 fail only the tests step N adds; this does not hold for %s\n", strings.Join(bad, ", "))
		return 1
	}
	return 0
}

// hasStep reports whether list has step n.
func hasStep(list []steps.Step, n int) bool {
	_, ok := steps.Find(list, n)
	return ok
}

// checkCStep judges one step. Step 01, which has no lab, runs its tests on
// the C built for step 01. From step 02 the check goes through the C lab,
// as an instructor would: it generates the lab outside the repository,
// runs "make" and step N's tests there on step N-1's C, then puts the
// solution in place as the lab's _solution/README.md says and runs "make"
// and the tests again.
func checkCStep(root, module, tmp string, list []steps.Step, step steps.Step) (*verdict, error) {
	if step.N < firstLab {
		binary, err := buildC(root, tmp, step.N)
		if err != nil {
			return nil, err
		}
		after, err := goTestProgram(root, step.Name, module+"/"+step.Name, binary)
		if err != nil {
			return nil, err
		}
		v := &verdict{}
		v.line = step.Name + " (C): " + judgeAfter(after, v)
		return v, nil
	}
	if inside(tmp, root) {
		return nil, fmt.Errorf("the temporary directory %s is inside the repository %s: set TMPDIR elsewhere", tmp, root)
	}
	dir := filepath.Join(tmp, fmt.Sprintf("lab%02d", step.N))
	l, err := generateC(options{root: root, step: step.N, dir: dir, solution: true})
	if err != nil {
		return nil, err
	}
	v := &verdict{}
	if err := v.judgeReadme(l, dir); err != nil {
		return nil, err
	}
	before, err := makeAndTest(dir, l.module)
	if err != nil {
		return nil, err
	}
	beforeMsg := judgeBefore(l, before, v)
	if err := useCSolution(dir); err != nil {
		return nil, err
	}
	after, err := makeAndTest(dir, l.module)
	if err != nil {
		return nil, err
	}
	v.line = fmt.Sprintf("%s (C lab): %s; %s", step.Name, beforeMsg, judgeAfter(after, v))
	return v, nil
}

// makeAndTest is what a student of a C lab runs in dir: "make", then
// "go test ./...". ECHOD is taken out of the environment, so that the
// tests grade the ./echod that make built. A C file that does not compile
// is reported as a broken package.
func makeAndTest(dir, module string) (*testRun, error) {
	cmd := exec.Command("make")
	cmd.Dir = dir
	cmd.Env = withoutProgramEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return nil, fmt.Errorf("make: %w", err)
		}
		return &testRun{module: module, passed: map[string]bool{}, failed: map[string]bool{}, skipped: map[string]bool{},
			output: map[string]*strings.Builder{}, broken: []string{"(make: " + firstLine(string(out)) + ")"}, stderr: string(out)}, nil
	}
	return goTestEnv(dir, module, withoutProgramEnv())
}

// withoutProgramEnv is this process's environment without ECHOD.
func withoutProgramEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ECHOD=") {
			env = append(env, kv)
		}
	}
	return env
}

// useCSolution puts the C lab's solution in place of the student's C:
// _solution/echod.c over c/echod.c, as its _solution/README.md says.
func useCSolution(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, solutionDir, "echod.c"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "c", "echod.c"), b, 0o644)
}

// buildC builds the C companion for step n into tmp, once, and returns the
// binary's path. It is named echod, as the Go program: the tests look for
// that name in log lines. $CC, if set, names the compiler.
func buildC(root, tmp string, n int) (string, error) {
	binary := filepath.Join(tmp, fmt.Sprintf("step%02d", n), "echod")
	if _, err := os.Stat(binary); err == nil {
		return binary, nil
	}
	if err := os.MkdirAll(filepath.Dir(binary), 0o755); err != nil {
		return "", err
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	args := append(strings.Fields(cFlags), fmt.Sprintf("-DSTEP=%d", n), "-o", binary, filepath.Join(root, cSource))
	cmd := exec.Command(cc, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, out.String())
	}
	return binary, nil
}

// goTestProgram runs "go test -json" on the step directory name in root,
// package pkg, with ECHOD naming binary: the step's tests grade it.
func goTestProgram(root, name, pkg, binary string) (*testRun, error) {
	cmd := exec.Command("go", "test", "-json", "-count=1", "-timeout="+testTimeout, "./"+name+"/")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ECHOD="+binary)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return nil, fmt.Errorf("go test: %w", err)
	}
	run, perr := parseTestJSON(pkg, &stdout)
	if perr != nil {
		return nil, perr
	}
	run.stderr += stderr.String()
	if err != nil && len(run.failed) == 0 && len(run.broken) == 0 {
		run.broken = append(run.broken, "(go test: "+firstLine(run.stderr)+")")
	}
	return run, nil
}

// generateC writes the C lab that o asks for: the Go lab of step N (its
// tests, the packages they import, its README), with step N-1's C in
// place of step N-1's Go code, printed for that step alone (unifdef) into
// DIR/c, a
// Makefile that builds it as echod, and a set-up that points the tests at
// that binary (ECHOD), so that "make && go test ./..." grades it. With
// -solution, DIR/_solution holds step N's C.
func generateC(o options) (*lab, error) {
	if o.step < 2 || o.step > cLastStep {
		return nil, refuse("-step %d -lang c: the C companion has labs for steps 02 to %02d", o.step, cLastStep)
	}
	l, err := generate(o)
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{o.dir, filepath.Join(o.dir, solutionDir)} {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			// The Go code, and the tests inside package main that use it.
			if name := e.Name(); strings.HasSuffix(name, ".go") && (isCode(name) || strings.HasSuffix(name, "_internal_test.go")) {
				if err := os.Remove(filepath.Join(dir, name)); err != nil {
					return nil, err
				}
			}
		}
	}
	write := func(path, text string) error { return os.WriteFile(filepath.Join(o.dir, path), []byte(text), 0o644) }
	// In a directory of its own: go refuses a package directory that holds
	// C files without using cgo.
	if err := os.Mkdir(filepath.Join(o.dir, "c"), 0o755); err != nil {
		return nil, err
	}
	if err := printC(o.root, o.step-1, filepath.Join(o.dir, "c", "echod.c")); err != nil {
		return nil, err
	}
	if o.solution {
		if err := printC(o.root, o.step, filepath.Join(o.dir, solutionDir, "echod.c")); err != nil {
			return nil, err
		}
		if err := write(filepath.Join(solutionDir, "README.md"), fmt.Sprintf(cSolutionReadme, o.step, o.step)); err != nil {
			return nil, err
		}
	}
	if err := write("Makefile", cLabMakefile); err != nil {
		return nil, err
	}
	if err := write(filepath.Join("internal", "daemontest", "clab.go"), cLabSetup); err != nil {
		return nil, err
	}
	readme, err := os.ReadFile(filepath.Join(o.dir, "README.md"))
	if err != nil {
		return nil, err
	}
	if err := write("README.md", fmt.Sprintf(cLabReadme, o.step-1, o.step)+string(readme)); err != nil {
		return nil, err
	}
	return l, nil
}

// printC writes step n's C alone to path: unifdef -DSTEP=n c/echod.c.
func printC(root string, n int, path string) error {
	cmd := exec.Command("unifdef", fmt.Sprintf("-DSTEP=%d", n), "-o", path, filepath.Join(root, cSource))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		err = nil // unifdef says 1 when it removed lines, as here
	}
	if err != nil {
		return fmt.Errorf("unifdef (Debian package unifdef) -DSTEP=%d %s: %v %s", n, cSource, err, out)
	}
	return nil
}

// cLabMakefile builds the lab's C as echod, which the tests run.
const cLabMakefile = `CC     ?= cc
CFLAGS ?= -std=c11 -O2 -Wall -Wextra -Werror

echod: c/echod.c
	$(CC) $(CFLAGS) -o $@ c/echod.c

test: echod
	go test -count=1 ./...

.PHONY: test
`

// cLabSetup points the lab's tests at the C program that make builds.
const cLabSetup = `package daemontest

import (
	"os"
	"path/filepath"
)

// A C lab: unless ECHOD says otherwise, the tests grade the program that
// "make" builds beside them, ./echod.
func init() {
	if os.Getenv(ProgramEnv) == "" {
		if path, err := filepath.Abs("echod"); err == nil {
			os.Setenv(ProgramEnv, path)
		}
	}
}
`

// cSolutionReadme is the C lab's _solution/README.md: how an instructor
// sees the solution pass (lab -check -lang c does just this).
const cSolutionReadme = "# The solution of lab %02d in C (for the instructor)\n\n" +
	"This directory holds step %02d of the C companion, the C this lab asks for.\n" +
	"The go command leaves directories whose names begin with \"_\" out of\n" +
	"\"./...\", and the Makefile builds c/echod.c only.\n\n" +
	"To see it pass the lab's tests, in the lab's directory:\n\n" +
	"    cp _solution/echod.c c/echod.c\n" +
	"    make && go test ./...\n\n" +
	"Remove this directory before you hand the lab out, or generate the lab\n" +
	"again without -solution.\n"

// cLabReadme heads the lab's README: this lab is in C.
const cLabReadme = "# This lab is in C\n\n" +
	"`c/echod.c` is step %02d of the C companion; make it step %02d, then grade it:\n\n" +
	"    make && go test ./...\n\n" +
	"The tests below run against `./echod`, which make builds. Where the text below\n" +
	"speaks of Go files, read c/echod.c (the solution, with -solution: _solution/echod.c).\n\n"
