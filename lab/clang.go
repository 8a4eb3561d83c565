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

// checkCStep judges one step: its tests on the C of the step before (from
// step 02) and on its own.
func checkCStep(root, module, tmp string, list []steps.Step, step steps.Step) (*verdict, error) {
	pkg := module + "/" + step.Name
	v := &verdict{}
	line := step.Name + " (C): "
	if step.N > 1 {
		prev, ok := steps.Find(list, step.N-1)
		if !ok {
			return nil, fmt.Errorf("no step%02d-* directory to start from", step.N-1)
		}
		added, kept, err := stepTests(step.Dir, prev.Dir)
		if err != nil {
			return nil, err
		}
		binary, err := buildC(root, tmp, prev.N)
		if err != nil {
			return nil, err
		}
		before, err := goTestProgram(root, step.Name, pkg, binary)
		if err != nil {
			return nil, err
		}
		line += judgeBefore(&lab{step: step, prev: prev, newTests: added, oldTests: kept}, before, v) + "; "
	}
	binary, err := buildC(root, tmp, step.N)
	if err != nil {
		return nil, err
	}
	after, err := goTestProgram(root, step.Name, pkg, binary)
	if err != nil {
		return nil, err
	}
	v.line = line + judgeAfter(after, v)
	return v, nil
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

// cLabReadme heads the lab's README: this lab is in C.
const cLabReadme = "# This lab is in C\n\n" +
	"`c/echod.c` is step %02d of the C companion; make it step %02d, then grade it:\n\n" +
	"    make && go test ./...\n\n" +
	"The tests below run against `./echod`, which make builds. Where the text below\n" +
	"speaks of Go files, read c/echod.c (the solution, with -solution: _solution/echod.c).\n\n"
