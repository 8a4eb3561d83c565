package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"daemon-steps/internal/steps"
)

// solutionDir is where -solution puts step N's code in a lab. The go
// command leaves directories whose names begin with "_" out of "./...", so
// "go test ./..." in the lab neither builds nor tests it.
const solutionDir = "_solution"

// usageError is a request that the command refuses: it exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func refuse(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// options says which lab to write where.
type options struct {
	root     string // the repository's top directory
	step     int    // the lab's step, 2 or later
	stepName string // the step's directory name, if -step gave it
	dir      string // where to write it: a new or empty directory
	solution bool   // also write step N's code into dir/_solution
}

// lab is what went into a lab.
type lab struct {
	root      string     // the repository it comes from
	module    string     // its module path: "lab07"
	step      steps.Step // the step whose tests it holds
	prev      steps.Step // the step whose code it starts from
	newTests  []testFunc // the tests that step adds
	oldTests  []testFunc // the tests of the step before
	testFiles []string   // the step's test files
	codeFiles []string   // the starting code's .go files
	packages  []string   // the repository's packages it holds: "internal/proc"
}

// findLab returns step n and the step before it, refusing an n that has
// no lab, and a name (if not "") that is not step n's directory.
func findLab(root string, n int, name string) (step, prev steps.Step, err error) {
	list, err := steps.List(root)
	if err != nil {
		return step, prev, err
	}
	last := firstLab
	if len(list) > 0 {
		last = max(last, list[len(list)-1].N)
	}
	if n < firstLab || n > last {
		return step, prev, refuse("-step %d: there is a lab for steps %d to %d", n, firstLab, last)
	}
	step, ok := steps.Find(list, n)
	if !ok {
		return step, prev, refuse("-step %d: there is no step%02d-* directory in %s", n, n, root)
	}
	if name != "" && name != step.Name {
		return step, prev, refuse("-step %s: step %02d's directory is %s", name, n, step.Name)
	}
	prev, ok = steps.Find(list, n-1)
	if !ok {
		return step, prev, refuse("-step %d: there is no step%02d-* directory in %s to start from", n, n-1, root)
	}
	return step, prev, nil
}

// generate writes the lab that o asks for.
func generate(o options) (*lab, error) {
	step, prev, err := findLab(o.root, o.step, o.stepName)
	if err != nil {
		return nil, err
	}
	if err := emptyDir(o.dir); err != nil {
		return nil, err
	}
	l := &lab{root: o.root, module: fmt.Sprintf("lab%02d", o.step), step: step, prev: prev}
	if err := l.write(o); err != nil {
		// The directory was empty or new: leave it so.
		ents, _ := os.ReadDir(o.dir)
		for _, e := range ents {
			os.RemoveAll(filepath.Join(o.dir, e.Name()))
		}
		return nil, err
	}
	return l, nil
}

// emptyDir makes sure dir is an empty directory, creating it if need be.
func emptyDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return err
	case !fi.IsDir():
		return refuse("-o %s: exists and is not a directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return refuse("-o %s: the directory is not empty; give a new or empty one", dir)
	}
	return nil
}

// write gathers the lab's files and writes them into o.dir.
func (l *lab) write(o options) error {
	modPath, err := steps.ModulePath(o.root)
	if err != nil {
		return err
	}
	files := make(map[string][]byte) // the lab's files by slash path

	// Step N-1's code, step N's tests, and for -solution step N's code.
	l.codeFiles, err = copyStepFiles(files, "", l.prev.Dir, isCode)
	if err != nil {
		return err
	}
	l.testFiles, err = copyStepFiles(files, "", l.step.Dir, isTest)
	if err != nil {
		return err
	}
	if len(l.testFiles) == 0 {
		return fmt.Errorf("%s has no test files", l.step.Name)
	}
	if o.solution {
		if _, err := copyStepFiles(files, solutionDir+"/", l.step.Dir, isCode); err != nil {
			return err
		}
		files[solutionDir+"/README.md"] = []byte(solutionReadme(l))
	}
	// The tutorial's client, for trying the server by hand: go run ./client.
	if _, err := copyStepFiles(files, clientDir+"/", filepath.Join(o.root, clientDir), isCode); err != nil {
		return err
	}
	// The repository's packages that they import, and the packages those
	// import, with the same paths in the lab's module.
	if l.packages, err = copyPackages(files, o.root, modPath); err != nil {
		return err
	}
	for name, text := range files {
		if strings.HasSuffix(name, ".go") {
			if files[name], err = rewriteImports(name, text, modPath, l.module); err != nil {
				return err
			}
		}
	}

	if l.newTests, l.oldTests, err = stepTests(l.step.Dir, l.prev.Dir); err != nil {
		return err
	}
	l.newTests, l.oldTests = labTests(l.newTests), labTests(l.oldTests)
	if files["go.mod"], err = goMod(o.root, l.module); err != nil {
		return err
	}
	switch sum, err := os.ReadFile(filepath.Join(o.root, "go.sum")); {
	case err == nil:
		files["go.sum"] = sum
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	readme, err := labReadme(l)
	if err != nil {
		return err
	}
	files["README.md"] = []byte(readme)

	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(o.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// clientDir is the tutorial's echo client, which a lab carries so that
// "go run ./client" works in it.
const clientDir = "client"

// newStyle reports whether the lab's step is a new-style daemon: it ships a
// unit file, and stays in the foreground.
func (l *lab) newStyle() bool {
	_, err := os.Stat(filepath.Join(l.step.Dir, "echod.service"))
	return err == nil
}

// isCode reports whether a step's file at rel (a slash path in the step's
// directory) belongs to its code: a top-level file other than a test and
// the README. A white-box test (NAME_internal_test.go, package main) reads
// the code's own functions, so it belongs to the code: with the step
// before's code it would not even build.
func isCode(rel string) bool {
	top := !strings.Contains(rel, "/")
	return top && (!strings.HasSuffix(rel, "_test.go") || strings.HasSuffix(rel, "_internal_test.go")) && rel != "README.md"
}

// isTest reports whether a step's file at rel belongs to its tests: a test
// file other than a white-box one, or anything in testdata/.
func isTest(rel string) bool {
	top := !strings.Contains(rel, "/")
	return strings.HasPrefix(rel, "testdata/") || top && strings.HasSuffix(rel, "_test.go") && !strings.HasSuffix(rel, "_internal_test.go")
}

// copyStepFiles adds to files, under prefix, the regular files of the step
// directory dir that keep says to keep, and returns the names of the .go
// files among them.
func copyStepFiles(files map[string][]byte, prefix, dir string, keep func(rel string) bool) ([]string, error) {
	var goFiles []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() || !keep(rel) || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[prefix+rel] = b
		if strings.HasSuffix(rel, ".go") && !strings.Contains(rel, "/") {
			goFiles = append(goFiles, rel)
		}
		return nil
	})
	return goFiles, err
}

// copyPackages adds to files every package of the repository (module
// modPath, in root) that the .go files already in files import, directly
// or through each other, at the same path under the lab's module, and
// returns their paths in the module, sorted. A package's test files and
// README stay behind.
func copyPackages(files map[string][]byte, root, modPath string) ([]string, error) {
	done := make(map[string]bool)
	for {
		var todo []string
		for name, text := range files {
			if !strings.HasSuffix(name, ".go") {
				continue
			}
			paths, err := importPaths(name, text)
			if err != nil {
				return nil, err
			}
			for _, p := range paths {
				if rel, ok := strings.CutPrefix(p, modPath+"/"); ok && !done[rel] {
					done[rel] = true
					todo = append(todo, rel)
				}
			}
		}
		if len(todo) == 0 {
			var pkgs []string
			for rel := range done {
				pkgs = append(pkgs, rel)
			}
			sort.Strings(pkgs)
			return pkgs, nil
		}
		for _, rel := range todo {
			if first, _, _ := strings.Cut(rel, "/"); strings.HasPrefix(first, "step") {
				return nil, fmt.Errorf("a lab cannot hold %s/%s: it belongs to a step", modPath, rel)
			}
			dir := filepath.Join(root, filepath.FromSlash(rel))
			ents, err := os.ReadDir(dir)
			if err != nil {
				return nil, fmt.Errorf("package %s/%s: %w", modPath, rel, err)
			}
			for _, e := range ents {
				name := e.Name()
				if !e.Type().IsRegular() || strings.HasSuffix(name, "_test.go") || name == "README.md" || strings.HasPrefix(name, ".") {
					continue
				}
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					return nil, err
				}
				files[rel+"/"+name] = b
			}
		}
	}
}

// importPaths returns the import paths of the Go file name.
func importPaths(name string, src []byte) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, spec := range f.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// rewriteImports changes, in the Go file name, every import of a package
// of module from to the same package of module to, and formats the result
// as gofmt does (which keeps import blocks sorted). Nothing else changes: a
// string that merely holds the module's name is left alone.
func rewriteImports(name string, src []byte, from, to string) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly|parser.ParseComments)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), src...)
	changed := false
	for i := len(f.Imports) - 1; i >= 0; i-- { // from the end: offsets stay valid
		lit := f.Imports[i].Path
		p, err := strconv.Unquote(lit.Value)
		if err != nil {
			return nil, err
		}
		var np string
		switch {
		case p == from:
			np = to
		case strings.HasPrefix(p, from+"/"):
			np = to + p[len(from):]
		default:
			continue
		}
		start, end := fset.Position(lit.Pos()).Offset, fset.Position(lit.End()).Offset
		out = append(out[:start:start], append([]byte(strconv.Quote(np)), out[end:]...)...)
		changed = true
	}
	if !changed {
		return src, nil
	}
	formatted, err := format.Source(out)
	if err != nil {
		return nil, fmt.Errorf("%s: format after rewriting imports: %w", name, err)
	}
	return formatted, nil
}

// goMod returns the lab's go.mod: module labModule, with the go and
// toolchain lines and every require of the repository's go.mod. The
// repository's replace directives would point back into it, so a go.mod
// that has any is refused.
func goMod(root, labModule string) ([]byte, error) {
	src, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "module %s\n", labModule)
	sc := bufio.NewScanner(bytes.NewReader(src))
	inRequire := false
	for sc.Scan() {
		line := sc.Text()
		word, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch {
		case inRequire:
			out.WriteString(line + "\n")
			inRequire = strings.TrimSpace(line) != ")"
		case word == "go" || word == "toolchain" || word == "godebug":
			fmt.Fprintf(&out, "\n%s\n", line)
		case word == "require":
			fmt.Fprintf(&out, "\n%s\n", line)
			inRequire = strings.HasSuffix(strings.TrimSpace(line), "(")
		case word == "replace":
			return nil, errors.New("go.mod has a replace directive, which a lab cannot carry")
		}
	}
	return out.Bytes(), sc.Err()
}

// solutionReadme explains the _solution directory to the instructor.
func solutionReadme(l *lab) string {
	return fmt.Sprintf(`# The solution of lab %02d (for the instructor)

This directory holds the code of %s, the step this lab asks for.
The go command leaves directories whose names begin with "_" out of
"./...", so "go test ./..." in the lab neither builds nor tests it.

To see it pass the lab's tests, in the lab's directory:

    find . -maxdepth 1 -name '*.go' \( ! -name '*_test.go' -o -name '*_internal_test.go' \) -delete
    find _solution -maxdepth 1 -type f ! -name README.md -exec cp {} . ';'
    go test ./...

Remove this directory before you hand the lab out, or generate the lab
again without -solution.
`, l.step.N, l.step.Name)
}
