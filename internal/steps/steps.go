// Package steps finds the tutorial's step directories (step01-background,
// step02-closefds, ...) and the files in them, for the tools that work on
// all steps at once: internal/stepdiff and lab.
package steps

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Step is one step directory.
type Step struct {
	N    int    // its number: 7 for step07-lock
	Name string // its directory's name: "step07-lock"
	Dir  string // its directory's path
}

// stepDir matches a step directory's name: "step", two digits, a dash and a
// lower-case name.
var stepDir = regexp.MustCompile(`^step([0-9]{2})-[a-z0-9]+(-[a-z0-9]+)*$`)

// Root returns the repository's top directory: the nearest directory at or
// above start that holds a go.mod and a step01-* directory.
func Root(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if m, _ := filepath.Glob(filepath.Join(dir, "step01-*")); len(m) > 0 {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod with step directories beside it at or above %s", start)
		}
		dir = parent
	}
}

// ModulePath returns the module path that root's go.mod declares.
func ModulePath(root string) (string, error) {
	f, err := os.Open(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no module line", filepath.Join(root, "go.mod"))
}

// List returns the step directories in root, in the order of their
// numbers. Two directories with one number are an error.
func List(root string) ([]Step, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var list []Step
	seen := make(map[int]string)
	for _, e := range ents {
		m := stepDir.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if other, ok := seen[n]; ok {
			return nil, fmt.Errorf("two directories for step %02d: %s and %s", n, other, e.Name())
		}
		seen[n] = e.Name()
		list = append(list, Step{N: n, Name: e.Name(), Dir: filepath.Join(root, e.Name())})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].N < list[j].N })
	return list, nil
}

// Find returns step n of list.
func Find(list []Step, n int) (Step, bool) {
	for _, s := range list {
		if s.N == n {
			return s, true
		}
	}
	return Step{}, false
}

// CodeFiles returns the names of the non-test .go files in dir, sorted.
func CodeFiles(dir string) ([]string, error) {
	return goFiles(dir, false)
}

// TestFiles returns the names of the *_test.go files in dir, sorted.
func TestFiles(dir string) ([]string, error) {
	return goFiles(dir, true)
}

func goFiles(dir string, tests bool) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".go") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		if strings.HasSuffix(name, "_test.go") == tests {
			names = append(names, name)
		}
	}
	if len(names) == 0 && !tests {
		return nil, errors.New(dir + ": no .go files")
	}
	return names, nil
}
