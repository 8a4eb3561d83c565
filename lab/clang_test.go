package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Test that the C lab of step 7 holds step 06's C alone (printed without
// any STEP conditional, and without the lock step 07 asks for), step 07's
// C in _solution with a README that says how to use it, no Go code of the
// step, and a Makefile with which "make" builds ./echod; and that the go
// command resolves the lab's packages with nothing but the module cache.
// (lab -check -lang c runs the tests of every C lab, before and after.)
func TestCLabHoldsStepBeforeAndBuilds(t *testing.T) {
	for _, tool := range []string{"cc", "make", "unifdef"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the C lab needs %s: %v", tool, err)
		}
	}
	root := repoRoot(t)
	dir := filepath.Join(t.TempDir(), "lab07")
	var stdout, stderr bytes.Buffer
	require.Equalf(t, 0, run([]string{"-root", root, "-step", "7", "-lang", "c", "-o", dir, "-solution"}, &stdout, &stderr),
		"lab -step 7 -lang c -o DIR -solution exits 0; it said %s", stderr.String())

	conditional := regexp.MustCompile(`(?m)^#\s*(if|elif).*\bSTEP\b`)
	start, err := os.ReadFile(filepath.Join(dir, "c", "echod.c"))
	require.NoErrorf(t, err, "the student's C is in DIR/c/echod.c")
	require.NotRegexpf(t, conditional, string(start), "DIR/c/echod.c is step 06 printed alone (unifdef), with no #if on STEP left")
	require.NotContainsf(t, string(start), "flock(", "DIR/c/echod.c is step 06's C, which takes no lock")
	solution, err := os.ReadFile(filepath.Join(dir, solutionDir, "echod.c"))
	require.NoErrorf(t, err, "-solution writes step 07's C into DIR/%s/echod.c", solutionDir)
	require.NotRegexpf(t, conditional, string(solution), "the solution is step 07 printed alone")
	require.Containsf(t, string(solution), "flock(", "the solution is step 07's C, which locks the pid file")
	howto, err := os.ReadFile(filepath.Join(dir, solutionDir, "README.md"))
	require.NoError(t, err)
	require.Containsf(t, string(howto), "cp _solution/echod.c c/echod.c", "the solution's README tells how to put the C solution in place:\n%s", howto)

	for _, f := range filesIn(t, dir) {
		if !strings.Contains(f, "/") && strings.HasSuffix(f, ".go") {
			require.Truef(t, strings.HasSuffix(f, "_test.go") && !strings.HasSuffix(f, "_internal_test.go"),
				"the C lab's top directory holds the step's tests only, no Go code of the step; found %s", f)
		}
	}
	require.FileExistsf(t, filepath.Join(dir, "internal", "daemontest", "clab.go"), "the set-up that points the tests at ./echod")

	cmd := exec.Command("make")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoErrorf(t, err, "make in the C lab builds step 06's C without a warning:\n%s", out)
	fi, err := os.Stat(filepath.Join(dir, "echod"))
	require.NoErrorf(t, err, "make builds ./echod, the program the tests grade")
	require.NotZerof(t, fi.Mode().Perm()&0o111, "./echod is executable: mode %v", fi.Mode())

	goCmd(t, dir, "list", "-deps", "-test", "./...")
}
