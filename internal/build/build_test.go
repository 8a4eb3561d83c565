package build

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Test that BuildStep builds a program once: a second build of the same
// code is the same file (a hard link to the cache entry), and a change to
// the code makes a new one that runs the changed code.
func TestBuildStepBuildsUnchangedCodeOnce(t *testing.T) {
	// A cache directory of the test's own, and Go's build cache where it is.
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	require.NoError(t, err, "go env GOCACHE")
	t.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	write := func(name, text string) {
		require.NoErrorf(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644), "set-up: write %s", name)
	}
	write("go.mod", "module example\n\ngo 1.22\n")
	write("main.go", "package main\n\nfunc main() { println(\"one\") }\n")
	inode := func(path string) uint64 {
		fi, err := os.Stat(path)
		require.NoErrorf(t, err, "stat %s", path)
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	out := t.TempDir()
	first, second, third := filepath.Join(out, "1"), filepath.Join(out, "2"), filepath.Join(out, "3")
	require.NoError(t, Step(t.Context(), dir, first), "first build")
	require.NoError(t, Step(t.Context(), dir, second), "second build, nothing changed")
	require.Equalf(t, inode(first), inode(second), "an unchanged program must come from the cache: %s and %s must be one file", first, second)

	write("main.go", "package main\n\nfunc main() { println(\"two\") }\n")
	require.NoError(t, Step(t.Context(), dir, third), "build after a change")
	require.NotEqualf(t, inode(first), inode(third), "a changed program must be built again: %s must not be %s", third, first)
}

// Test that BuildStep refuses a package that imports another package of
// its own module, whose files would not be in the cache key.
func TestBuildInputsRefusesOwnModuleImports(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport _ \"example/other\"\n\nfunc main() {}\n"), 0o644))
	_, err := Inputs(dir)
	require.ErrorContainsf(t, err, "example/other", "BuildInputs must refuse main.go, which imports example/other of its own module")
}
