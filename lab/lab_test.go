package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"daemon-steps/internal/steps"
)

// repoRoot returns the repository's top directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := steps.Root(".")
	require.NoError(t, err)
	return root
}

// filesIn returns the slash paths of the regular files under dir.
func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	}))
	sort.Strings(files)
	return files
}

// goCmd runs the go command in dir as a student would, without the
// network: GOPROXY=off makes any download fail.
func goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s in %s:\n%s", strings.Join(args, " "), dir, out)
	return string(out)
}

// Test that the lab for step 2 holds step 01's code, step 02's tests, the
// packages they import under the lab's module path, go.mod, go.sum and a
// README; that nothing in it points back into the repository; and that
// the go command resolves every import of it, tests included, with nothing
// but the module cache. (TestChangedCodeRerunsTests compiles and runs a
// lab; compiling this one too would only cost time.)
func TestStep2LabBuildsOnItsOwn(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	list, err := steps.List(root)
	require.NoError(t, err)
	step1, ok := steps.Find(list, 1)
	require.True(t, ok)
	step2, ok := steps.Find(list, 2)
	require.True(t, ok)

	dir := filepath.Join(t.TempDir(), "lab02")
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"-root", root, "-step", "2", "-o", dir}, &stdout, &stderr), stderr.String())

	// The tutorial's client comes too, for "go run ./client".
	want := []string{"README.md", "client/main.go", "go.mod", "go.sum"}
	code, err := steps.CodeFiles(step1.Dir)
	require.NoError(t, err)
	tests, err := steps.TestFiles(step2.Dir)
	require.NoError(t, err)
	want = append(append(want, code...), tests...)
	// The packages the tests import, whichever they are now, each with its
	// code files; daemontest and proc at least.
	pkgs := make(map[string]bool)
	for _, f := range filesIn(t, dir) {
		if strings.HasPrefix(f, "internal/") {
			pkgs[filepath.Dir(f)] = true
		}
	}
	require.True(t, pkgs["internal/daemontest"] && pkgs["internal/proc"], "%v", pkgs)
	for pkg := range pkgs {
		names, err := steps.CodeFiles(filepath.Join(root, pkg))
		require.NoError(t, err)
		for _, n := range names {
			want = append(want, pkg+"/"+n)
		}
	}
	sort.Strings(want)
	require.Equal(t, want, filesIn(t, dir))

	for _, name := range code {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		orig, err := os.ReadFile(filepath.Join(step1.Dir, name))
		require.NoError(t, err)
		require.Equal(t, string(orig), string(b), "%s is step 01's", name)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(gomod), "module lab02\n"), "%s", gomod)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	labSum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	require.NoError(t, err)
	require.Equal(t, string(sum), string(labSum))
	for _, name := range filesIn(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.NotContains(t, string(b), `"daemon-steps/`, "%s imports from the repository's module", name)
		require.NotContains(t, string(b), root, "%s names the repository's directory", name)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	added, kept, ok := strings.Cut(string(readme), "They pass now")
	require.Truef(t, ok, "the README has a list of the tests the lab adds, then of those that pass now:\n%s", readme)
	require.Containsf(t, added, "- `TestServerHoldsNoInheritedDescriptor`: Test that ", "step 02's test is listed with its requirement among those the lab adds")
	require.NotContainsf(t, added, "TestLauncherReturnsWhileServerServes", "step 01's tests are not among those the lab adds")
	require.Containsf(t, kept, "- `TestLauncherReturnsWhileServerServes`: Test that ", "step 01's tests are listed with their requirement among those that pass now")

	goCmd(t, dir, "list", "-deps", "-test", "./...")
}

// Test that -solution puts step N's code in _solution, which "./..." in
// the lab leaves out.
func TestSolutionStaysOutOfTheLabsPackages(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"-root", root, "-step", "2", "-o", dir, "-solution"}, &stdout, &stderr), stderr.String())

	list, err := steps.List(root)
	require.NoError(t, err)
	step2, _ := steps.Find(list, 2)
	code, err := steps.CodeFiles(step2.Dir)
	require.NoError(t, err)
	for _, name := range code {
		b, err := os.ReadFile(filepath.Join(dir, solutionDir, name))
		require.NoError(t, err)
		orig, err := os.ReadFile(filepath.Join(step2.Dir, name))
		require.NoError(t, err)
		require.Equal(t, string(orig), string(b), "%s is step 02's", name)
	}
	require.FileExists(t, filepath.Join(dir, solutionDir, "README.md"))
	pkgs := strings.Fields(goCmd(t, dir, "list", "./..."))
	require.Contains(t, pkgs, "lab02")
	for _, p := range pkgs {
		require.NotContains(t, p, solutionDir)
	}
}

// Test that a non-empty directory, a step without a lab and a missing flag
// are refused with one line on standard error and status 2, and that
// nothing is written.
func TestRefusesWithOneLine(t *testing.T) {
	root := repoRoot(t)
	full := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(full, "keep"), []byte("mine"), 0o644))
	file := filepath.Join(full, "keep")
	list, err := steps.List(root)
	require.NoError(t, err)
	last := list[len(list)-1].N
	// A repository with steps 01, 02 and 04.
	short := t.TempDir()
	for _, name := range []string{"go.mod", "step01-one/main.go", "step02-two/main.go", "step02-two/step_test.go", "step04-four/main.go"} {
		path := filepath.Join(short, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte("module x\n"), 0o644))
	}

	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"non-empty directory":     {[]string{"-root", root, "-step", "2", "-o", full}, "is not empty"},
		"a file":                  {[]string{"-root", root, "-step", "2", "-o", file}, "is not a directory"},
		"step 1":                  {[]string{"-root", root, "-step", "1", "-o", t.TempDir()}, fmt.Sprintf("steps 2 to %d", last)},
		"the step after the last": {[]string{"-root", root, "-step", strconv.Itoa(last + 1), "-o", t.TempDir()}, fmt.Sprintf("steps 2 to %d", last)},
		"a step not written":      {[]string{"-root", short, "-step", "3", "-o", t.TempDir()}, "no step03-* directory"},
		"check a step not made":   {[]string{"-root", short, "-check", "-step", "3"}, "no step03-* directory"},
		"no -o":                   {[]string{"-root", root, "-step", "2"}, "-o DIR is missing"},
		"no -step":                {[]string{"-root", root, "-o", t.TempDir()}, "-step N is missing"},
		"-check with -o":          {[]string{"-root", root, "-check", "-o", t.TempDir()}, "takes no -o"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			require.Equal(t, 2, run(c.args, &stdout, &stderr))
			require.Equal(t, 1, strings.Count(stderr.String(), "\n"), "one line: %q", stderr.String())
			require.Contains(t, stderr.String(), c.want)
			require.True(t, strings.HasPrefix(stderr.String(), "lab: "))
		})
	}
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, "mine", string(b))
	require.Equal(t, []string{"keep"}, filesIn(t, full))
}

// Test that imports of the repository's packages move to the lab's module,
// that other strings naming the module stay, and that the result is
// formatted.
func TestRewriteImports(t *testing.T) {
	src := `package main_test

import (
	"os"

	"github.com/stretchr/testify/require"

	"daemon-steps/internal/proc"
	dt "daemon-steps/internal/daemontest"
)

const abstract = "@daemon-steps-test"

var _ = "daemon-steps/internal/proc"
`
	got, err := rewriteImports("x_test.go", []byte(src), "daemon-steps", "lab07")
	require.NoError(t, err)
	want := `package main_test

import (
	"os"

	"github.com/stretchr/testify/require"

	dt "lab07/internal/daemontest"
	"lab07/internal/proc"
)

const abstract = "@daemon-steps-test"

var _ = "daemon-steps/internal/proc"
`
	require.Equal(t, want, string(got))

	same := []byte("package main\n\nimport \"daemon-stepsx/y\"\n")
	got, err = rewriteImports("y.go", same, "daemon-steps", "lab07")
	require.NoError(t, err)
	require.Equal(t, string(same), string(got), "a module whose name merely starts the same is not ours")
}

// Test that the top-level tests of a directory are found with their doc
// comments on one line, and that helpers, benchmarks, TestMain and
// lower-case Testx functions are not tests.
func TestFindsTopLevelTests(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a_test.go"), []byte(`package main_test

import "testing"

func TestMain(m *testing.M) {}

// Test that one thing holds,
// over two lines.
func TestOne(t *testing.T) {}

func Testlower(t *testing.T) {}

func TestTwo(t *testing.T) {}

func BenchmarkThree(b *testing.B) {}

func helper(t *testing.T) {}
`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc TestNot(t *T) {}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b_internal_test.go"), []byte("package main\n\nimport \"testing\"\n\n// Test that the code holds from inside.\nfunc TestInside(t *testing.T) {}\n"), 0o644))
	got, err := testFuncs(dir)
	require.NoError(t, err)
	one := testFunc{"TestOne", "Test that one thing holds, over two lines.", "a_test.go"}
	two := testFunc{"TestTwo", "", "a_test.go"}
	inside := testFunc{"TestInside", "Test that the code holds from inside.", "b_internal_test.go"}
	require.Equal(t, []testFunc{one, two, inside}, got)
	require.Equal(t, []testFunc{one, two}, labTests(got), "a lab's tests leave out the white-box ones, which belong to the code")
}

// Test that a step README gives the lab its "recommend" and "why"
// sections and nothing else: not how Go does it, not the tests, not the
// diff, and no heading inside a code block.
func TestReadmeSectionsLeaveTheSolutionOut(t *testing.T) {
	readme := "# Step 07: lock\n\nIntro.\n\n" +
		"## What Comer–Stevens recommend\n\nRun one copy; see [step 06](../step06-devnull/README.md) and [flock](https://man7.org/flock.2.html).\n\n" +
		"## Why\n\nBecause.\n\n```sh\n# a comment, not a heading\nflock x\n```\n\n" +
		"## How Go does it (and the trap)\n\nunix.Flock(fd, LOCK_EX|LOCK_NB)\n\n" +
		"## What the test checks\n\nTestServerLocksPidFile\n\n" +
		"## The code, step by step\n\n```diff\n+unix.Flock\n```\n"
	recommend, why := readmeSections(readme)
	require.Equal(t, "Run one copy; see step 06 and [flock](https://man7.org/flock.2.html).", recommend)
	require.Equal(t, "Because.\n\n```sh\n# a comment, not a heading\nflock x\n```", why)

	require.Equal(t, "lock", readmeTitle(readme))
	require.Equal(t, "Only a title", readmeTitle("# Only a title\n"))
	require.Empty(t, readmeTitle("No title\n"))

	recommend, why = readmeSections("# Only a title\n\nText.\n")
	require.Empty(t, recommend)
	require.Empty(t, why)
}

// Test that go.mod keeps the go line and every require and takes the
// lab's module path, and that a replace directive is refused.
func TestGoModHasTheRequires(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte(
		"module daemon-steps\n\ngo 1.26.0\n\nrequire (\n\ta v1.0.0\n\tb v2.0.0\n)\n\nrequire c v0.1.0 // indirect\n"), 0o644))
	got, err := goMod(root, "lab03")
	require.NoError(t, err)
	require.Equal(t, "module lab03\n\ngo 1.26.0\n\nrequire (\n\ta v1.0.0\n\tb v2.0.0\n)\n\nrequire c v0.1.0 // indirect\n", string(got))

	require.NoError(t, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module daemon-steps\n\nreplace a => ../a\n"), 0o644))
	_, err = goMod(root, "lab03")
	require.ErrorContains(t, err, "replace")
}

// testJSON is a go test -json stream of a lab whose TestNew fails, with a
// subtest, and whose TestOld passes.
const testJSON = `{"Action":"start","Package":"lab07"}
{"Action":"run","Package":"lab07","Test":"TestOld"}
{"Action":"pass","Package":"lab07","Test":"TestOld"}
{"Action":"run","Package":"lab07","Test":"TestNew"}
{"Action":"output","Package":"lab07","Test":"TestNew/case","Output":"the reason\n"}
{"Action":"fail","Package":"lab07","Test":"TestNew/case"}
{"Action":"fail","Package":"lab07","Test":"TestNew"}
{"Action":"output","Package":"lab07","Output":"FAIL\n"}
{"Action":"fail","Package":"lab07"}
{"Action":"skip","Package":"lab07/internal/proc"}
`

// Test that -check's reading of go test -json finds the failing top-level
// tests, and judges a failing new test fine, a failing old test or a
// package that does not build a violation, and any failure after the
// step's code is in place a violation.
func TestCheckJudgesTestRuns(t *testing.T) {
	l := &lab{
		module:   "lab07",
		step:     steps.Step{N: 7, Name: "step07-lock"},
		prev:     steps.Step{N: 6, Name: "step06-devnull"},
		newTests: []testFunc{{Name: "TestNew"}, {Name: "TestOther"}},
	}
	run, err := parseTestJSON("lab07", strings.NewReader(testJSON))
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"TestNew": true}, run.failed)
	require.Equal(t, map[string]bool{"TestOld": true}, run.passed)
	require.Empty(t, run.broken)
	require.Contains(t, run.output["TestNew"].String(), "the reason")

	var v verdict
	require.Equal(t, "before: 1 of 2 new tests fail (TestNew), no old test fails", judgeBefore(l, run, &v))
	require.Empty(t, v.violations)

	l.newTests = []testFunc{{Name: "TestOther"}}
	v = verdict{}
	require.Equal(t, "before: 0 of 1 new tests fail, 1 old tests fail too (TestNew)", judgeBefore(l, run, &v))
	require.Equal(t, []string{"before: TestNew fails on step06-devnull's code, though step07-lock did not add it"}, v.violations)

	v = verdict{}
	require.Equal(t, "after: 1 of 2 pass (TestNew fail)", judgeAfter(run, &v))
	require.Equal(t, []string{"after: TestNew fails on the step's own code"}, v.violations)

	passing, err := parseTestJSON("lab07", strings.NewReader(`{"Action":"pass","Package":"lab07","Test":"TestOld"}
{"Action":"pass","Package":"lab07"}
`))
	require.NoError(t, err)
	v = verdict{}
	require.Equal(t, "before: 0 of 1 new tests fail, no old test fails", judgeBefore(l, passing, &v))
	require.Equal(t, []string{"before: no test fails on step06-devnull's code"}, v.violations)

	broken, err := parseTestJSON("lab07", strings.NewReader(`{"ImportPath":"lab07","Action":"build-output","Output":"./x.go:1: syntax error\n"}
{"ImportPath":"lab07","Action":"build-fail"}
{"Action":"fail","Package":"lab07","FailedBuild":"lab07"}
`))
	require.NoError(t, err)
	require.Equal(t, []string{"lab07"}, broken.broken)
	v = verdict{}
	judgeAfter(broken, &v)
	require.Equal(t, []string{"after: package lab07 fails outside any test (it does not build, or TestMain fails)"}, v.violations)
	require.Contains(t, v.details[0], "syntax error")
}

// Test that every lab has what its README needs from the repository: a
// row of PROPERTIES.md for its step, and hints for each of the twelve.
func TestEveryLabHasPropertiesAndHints(t *testing.T) {
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, propertiesFile)); err != nil {
		t.Skipf("no %s in the repository yet: %v", propertiesFile, err)
	}
	list, err := steps.List(root)
	require.NoError(t, err)
	for _, st := range list {
		if st.N < firstLab {
			continue
		}
		props, err := stepProperties(root, st.N)
		require.NoErrorf(t, err, "the lab of %s states what the server must do from its row of %s", st.Name, propertiesFile)
		_, name, _ := strings.Cut(st.Name, "-")
		require.Equalf(t, fmt.Sprintf("%02d %s", st.N, name), props[0].Key, "the first row of %s for step %02d is named after its directory %s", propertiesFile, st.N, st.Name)
		for _, p := range props {
			require.NotEmptyf(t, p.Server, "%s row %q: what the server does", propertiesFile, p.Key)
			require.NotEmptyf(t, p.SeenBy, "%s row %q: seen through", propertiesFile, p.Key)
			require.NotEmptyf(t, p.Before, "%s row %q: the previous step instead", propertiesFile, p.Key)
		}
		if st.N <= 12 {
			require.NotEmptyf(t, info[st.N].Hints, "lab/info.go has hints for lab %02d", st.N)
		}
	}
}

// Test that every test of every step begins its doc comment with "Test
// that": the sentence is the requirement that the labs' READMEs state, and
// lab -check fails a lab whose README lacks it.
func TestEveryTestStatesItsRequirement(t *testing.T) {
	list, err := steps.List(repoRoot(t))
	require.NoError(t, err)
	for _, st := range list {
		tests, err := testFuncs(st.Dir)
		require.NoError(t, err)
		for _, tf := range tests {
			require.Truef(t, strings.HasPrefix(tf.Doc, requirementPrefix),
				"%s/%s: a lab's README states each test's requirement from its doc comment, which must begin %q; it is %q",
				st.Name, tf.Name, requirementPrefix, tf.Doc)
		}
	}
}

// Test that each step's README names, in its section "What the test
// checks", every test the step adds: the section is where a student whose
// lab failed looks up what the test wanted, and where a reader learns what
// the step's tests prove.
func TestEveryStepReadmeNamesTheTestsItAdds(t *testing.T) {
	list, err := steps.List(repoRoot(t))
	require.NoError(t, err)
	prevDir := ""
	for _, st := range list {
		added, err := testFuncs(st.Dir)
		require.NoError(t, err)
		if prevDir != "" {
			added, _, err = stepTests(st.Dir, prevDir)
			require.NoError(t, err)
		}
		prevDir = st.Dir
		b, err := os.ReadFile(filepath.Join(st.Dir, "README.md"))
		require.NoError(t, err)
		section := readmeSection(string(b), "What the test checks")
		require.NotEmptyf(t, section, "%s/README.md has a section \"What the test checks\"", st.Name)
		for _, tf := range added {
			require.Containsf(t, section, "`"+tf.Name+"`",
				"%s adds %s, so its README's section \"What the test checks\" must name it in backquotes and say what it checks; it does not",
				st.Name, tf.Name)
		}
	}
}

// Test that LABS.md, in each lab's section, names every test the lab
// adds: an instructor reads there what a lab grades.
func TestLabsGuideNamesEachLabsTests(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "LABS.md"))
	require.NoError(t, err)
	list, err := steps.List(root)
	require.NoError(t, err)
	for i, st := range list {
		if st.N < firstLab || i == 0 {
			continue
		}
		added, _, err := stepTests(st.Dir, list[i-1].Dir)
		require.NoError(t, err)
		_, rest, ok := strings.Cut(string(b), fmt.Sprintf("\n### Lab %02d:", st.N))
		require.Truef(t, ok, "LABS.md has a section \"### Lab %02d: ...\"", st.N)
		section, _, _ := strings.Cut(rest, "\n#")
		for _, tf := range labTests(added) {
			require.Containsf(t, section, "`"+tf.Name+"`",
				"lab %02d adds %s, so its section of LABS.md must name it in backquotes; it does not", st.N, tf.Name)
		}
	}
}

// readmeSection returns the body of the "## " section of a README whose
// heading is title, or "".
func readmeSection(readme, title string) string {
	_, rest, ok := strings.Cut(readme, "\n## "+title+"\n")
	if !ok {
		return ""
	}
	body, _, _ := strings.Cut(rest, "\n## ")
	return body
}

// Test that -step takes a step's number with or without its leading zero
// (so 08 and 09 are not octal) and a step directory's name, and refuses
// anything else with one line and status 2.
func TestStepFlagTakesNumberOrDirectory(t *testing.T) {
	root := repoRoot(t)
	list, err := steps.List(root)
	require.NoError(t, err)
	for _, st := range list {
		if st.N < firstLab {
			continue
		}
		for _, arg := range []string{strconv.Itoa(st.N), fmt.Sprintf("%02d", st.N), st.Name} {
			n, name, err := parseStep(arg)
			require.NoErrorf(t, err, "-step %s", arg)
			require.Equalf(t, st.N, n, "-step %s is step %d", arg, st.N)
			got, _, err := findLab(root, n, name)
			require.NoErrorf(t, err, "-step %s", arg)
			require.Equalf(t, st.Name, got.Name, "-step %s", arg)
		}
	}
	dir := filepath.Join(t.TempDir(), "lab08")
	var stdout, stderr bytes.Buffer
	require.Equalf(t, 0, run([]string{"-root", root, "-step", "08", "-o", dir}, &stdout, &stderr), "lab -step 08 -o %s: %s", dir, stderr.String())
	require.FileExistsf(t, filepath.Join(dir, "README.md"), "lab -step 08 wrote lab 08")

	for _, bad := range []string{"x", "8x", "-1", "+8", "step", "stepx-y", "step08-lock", "0x8"} {
		var stdout, stderr bytes.Buffer
		require.Equalf(t, 2, run([]string{"-root", root, "-step", bad, "-o", t.TempDir()}, &stdout, &stderr), "-step %q is refused with status 2", bad)
		require.Equalf(t, 1, strings.Count(stderr.String(), "\n"), "-step %q: one line on standard error, got %q", bad, stderr.String())
		require.Truef(t, strings.HasPrefix(stderr.String(), "lab: -step "), "-step %q: the line names the flag, got %q", bad, stderr.String())
	}
}
