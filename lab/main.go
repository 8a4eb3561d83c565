// Command lab turns a step of the tutorial into an exercise, and checks
// that every step makes a fair one.
//
//	go run ./lab -step 7 -o DIR [-solution]
//	go run ./lab -check [-step N]
//	go run ./lab -step 7 -lang c -o DIR [-solution]
//	go run ./lab -check -lang c [-step N]
//
// -step takes a step's number, with or without its leading zero (8, 08),
// or its directory's name (step08-pidfile).
//
// A lab for step N is a Go module of its own in DIR (module path labNN):
// the code of step N-1 to start from, the tests of step N, copies of the
// repository's packages they import, directly or through another
// (internal/daemontest, internal/launch, internal/property and those they
// use), with their import paths changed to the lab's module, the repository's go.sum, and a
// README.md for the student: the recommendation, what the tests check,
// how to run them, and hints. It builds with Go and the module proxy or
// cache alone. With -solution, step N's code goes into DIR/_solution,
// which "go test ./..." leaves out because its name begins with "_".
//
// -check is the repository's "previous step" check: for each step from 02
// (or step N alone) it generates the lab in a temporary directory outside
// the repository, requires "go test ./..." there to fail, and only in tests
// that step N added, then puts step N's code in place and requires every
// test to pass. It prints one line per step and exits 1 if any breaks the
// rule.
//
// -check -lang c checks the C companion (c/echod.c) the same way: built
// for step N it passes step N's tests, and built for step N-1 it fails only
// the tests step N adds (lab/clang.go).
//
// LABS.md at the top of the repository is the instructor's guide.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"daemon-steps/internal/steps"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command, with its exit status: 0 done, 1 failed (or -check
// found a step that breaks the rule), 2 refused.
func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("lab", flag.ContinueOnError)
	fl.SetOutput(stderr)
	stepArg := fl.String("step", "", "the lab's `step`: its number (8 or 08) or its directory's name (step08-pidfile)")
	dir := fl.String("o", "", "write the lab into `DIR`, a new or empty directory")
	solution := fl.Bool("solution", false, "also write step N's code into DIR/"+solutionDir+", for the instructor")
	checkAll := fl.Bool("check", false, "check that each step's lab fails on its new tests only and passes with the step's code")
	mistakes := fl.Bool("mistakes", false, "prove that the tests catch each step's common mistakes (its mistakes/*.patch), and check the READMEs' sections on them")
	writeMistakes := fl.Bool("write", false, "with -mistakes: rewrite the READMEs' \"Common mistakes\" sections instead")
	root := fl.String("root", "", "the repository's top `directory` (default: found from the working directory)")
	lang := fl.String("lang", "go", "the `language` of the step code: go, or c for the C companion (c/echod.c)")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./lab -step N -o DIR [-solution]\n       go run ./lab -check [-step N]\n       go run ./lab -mistakes [-write] [-step N]\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "lab: %v\n", err)
		if _, ok := err.(*usageError); ok {
			return 2
		}
		return 1
	}
	step, stepName, err := parseStep(*stepArg)
	if err != nil {
		return fail(err)
	}
	switch {
	case fl.NArg() > 0:
		return fail(refuse("unexpected argument %q", fl.Arg(0)))
	case *mistakes && (*checkAll || *dir != "" || *solution):
		return fail(refuse("-mistakes writes no lab and is no -check: it takes no -o, -solution or -check"))
	case *writeMistakes && !*mistakes:
		return fail(refuse("-write goes with -mistakes"))
	case *mistakes:
	case *checkAll && (*dir != "" || *solution):
		return fail(refuse("-check writes no lab: it takes no -o or -solution"))
	case !*checkAll && step == 0:
		return fail(refuse("-step N is missing: which step's lab (%d or later)?", firstLab))
	case !*checkAll && *dir == "":
		return fail(refuse("-o DIR is missing: where to write the lab?"))
	}
	if *root == "" {
		r, err := steps.Root(".")
		if err != nil {
			return fail(refuse("%v: run lab inside the repository", err))
		}
		*root = r
	}

	if *mistakes {
		return runMistakes(*root, step, *writeMistakes, stdout, stderr)
	}
	if *checkAll && *lang == "c" {
		return checkC(*root, step, stdout, stderr)
	}
	if *lang != "go" && *lang != "c" {
		return fail(refuse("-lang %q: go or c", *lang))
	}
	if *checkAll {
		return check(*root, step, stepName, stdout, stderr)
	}
	gen := generate
	if *lang == "c" {
		gen = generateC
	}
	l, err := gen(options{root: *root, step: step, stepName: stepName, dir: *dir, solution: *solution})
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "wrote lab %02d into %s: the code of %s, the tests of %s (%d new)\n",
		step, *dir, l.prev.Name, l.step.Name, len(l.newTests))
	if *solution {
		fmt.Fprintf(stdout, "the solution is in %s/%s: remove it before you hand the lab out\n", *dir, solutionDir)
	}
	return 0
}

// parseStep reads -step: a number in decimal, so that "08" is 8 and not a
// bad octal number, or a step directory's name, "step08-pidfile", whose
// name findLab checks against the directory. "" is 0, no step.
func parseStep(arg string) (n int, name string, err error) {
	if arg == "" {
		return 0, "", nil
	}
	digits := arg
	if rest, ok := strings.CutPrefix(arg, "step"); ok {
		digits, _, _ = strings.Cut(rest, "-")
		if digits != rest {
			name = arg
		}
	}
	n, err = strconv.Atoi(digits)
	if err != nil || n < 0 || strings.HasPrefix(digits, "+") {
		return 0, "", refuse("-step %q: give a step's number (8 or 08) or its directory's name (step08-pidfile)", arg)
	}
	return n, name, nil
}
