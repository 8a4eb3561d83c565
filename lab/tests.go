package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"daemon-steps/internal/steps"
)

// testFunc is a top-level test of a step.
type testFunc struct {
	Name string // TestServerLocksPidFile
	Doc  string // its doc comment, on one line: "Test that ..."
	File string // the file that holds it: step_test.go
}

// testFuncs returns the top-level tests in the *_test.go files of dir, in
// the order of the files' names and, within a file, of the source.
func testFuncs(dir string) ([]testFunc, error) {
	names, err := steps.TestFiles(dir)
	if err != nil {
		return nil, err
	}
	var tests []testFunc
	fset := token.NewFileSet()
	for _, name := range names {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && isTestFunc(fn) {
				tests = append(tests, testFunc{Name: fn.Name.Name, Doc: oneLine(fn.Doc.Text()), File: name})
			}
		}
	}
	return tests, nil
}

// isTestFunc reports whether fn is a test that "go test" runs: a function
// TestXxx(t *testing.T), where Xxx does not start with a lower-case letter.
func isTestFunc(fn *ast.FuncDecl) bool {
	rest, ok := strings.CutPrefix(fn.Name.Name, "Test")
	if !ok || fn.Recv != nil || fn.Type.TypeParams != nil {
		return false
	}
	if r, _ := utf8.DecodeRuneInString(rest); unicode.IsLower(r) {
		return false
	}
	params := fn.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T" // *testing.T, not TestMain's *testing.M
}

// oneLine joins the lines of a doc comment into one.
func oneLine(doc string) string {
	return strings.Join(strings.Fields(doc), " ")
}

// labTests returns those of tests that a lab gives the student: not the
// white-box ones, which belong to the code (see isCode).
func labTests(tests []testFunc) []testFunc {
	var kept []testFunc
	for _, t := range tests {
		if isTest(t.File) {
			kept = append(kept, t)
		}
	}
	return kept
}

// stepTests returns the tests of the step in dir that the step in prevDir
// does not have, and those it does.
func stepTests(dir, prevDir string) (added, kept []testFunc, err error) {
	tests, err := testFuncs(dir)
	if err != nil {
		return nil, nil, err
	}
	before, err := testFuncs(prevDir)
	if err != nil {
		return nil, nil, err
	}
	had := make(map[string]bool)
	for _, t := range before {
		had[t.Name] = true
	}
	for _, t := range tests {
		if had[t.Name] {
			kept = append(kept, t)
		} else {
			added = append(added, t)
		}
	}
	return added, kept, nil
}
