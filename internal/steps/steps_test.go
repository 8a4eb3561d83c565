package steps

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func mkfiles(t *testing.T, root string, names ...string) {
	t.Helper()
	for _, name := range names {
		path := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte("module example\n"), 0o644))
	}
}

// Test that the step directories are found in the order of their numbers,
// from anywhere below the top directory, and that other directories and
// files are not steps.
func TestListsStepsInOrder(t *testing.T) {
	root := t.TempDir()
	mkfiles(t, root, "go.mod", "step10-ten/main.go", "step02-two/main.go", "step01-one/main.go",
		"step3-bad/main.go", "stepxx-bad/main.go", "step04-Upper/main.go", "internal/x/x.go")
	require.NoError(t, os.WriteFile(filepath.Join(root, "step05-file"), nil, 0o644))

	found, err := Root(filepath.Join(root, "internal", "x"))
	require.NoError(t, err)
	require.Equal(t, root, found)
	mod, err := ModulePath(root)
	require.NoError(t, err)
	require.Equal(t, "example", mod)

	list, err := List(root)
	require.NoError(t, err)
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
	}
	require.Equal(t, []string{"step01-one", "step02-two", "step10-ten"}, names)
	s, ok := Find(list, 10)
	require.True(t, ok)
	require.Equal(t, filepath.Join(root, "step10-ten"), s.Dir)
	_, ok = Find(list, 3)
	require.False(t, ok)
}

// Test that two directories for one step are an error.
func TestRefusesTwoDirectoriesForOneStep(t *testing.T) {
	root := t.TempDir()
	mkfiles(t, root, "go.mod", "step01-one/main.go", "step01-uno/main.go")
	_, err := List(root)
	require.ErrorContains(t, err, "two directories for step 01")
}

// Test that code files and test files are told apart, and that files the
// go command ignores are neither.
func TestCodeAndTestFiles(t *testing.T) {
	dir := t.TempDir()
	mkfiles(t, dir, "b.go", "a.go", "a_test.go", "_x.go", ".y.go", "README.md", "testdata/t.go")
	code, err := CodeFiles(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"a.go", "b.go"}, code)
	tests, err := TestFiles(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"a_test.go"}, tests)
}
