package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeTree creates files (path: text) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	}
}

// stepdiff runs the command on root and returns its exit status and what it
// wrote to standard error.
func stepdiff(t *testing.T, root string, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"-root", root}, args...), &stdout, &stderr)
	t.Logf("stepdiff %s: status %d\n%s%s", strings.Join(args, " "), code, &stdout, &stderr)
	return code, stderr.String()
}

// Test that the diff goes between the markers of a README that has them,
// into a section appended to one that has none, and into a new README for
// a step that has none; that tests, READMEs and testdata stay out of it;
// and that -check then passes and writes nothing.
func TestWritesDiffIntoReadmes(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"go.mod":                       "module example\n",
		"step01-one/main.go":           "package main\n\nfunc main() {}\n",
		"step01-one/step_test.go":      "package main\n",
		"step02-two/main.go":           "package main\n\nfunc main() { two() }\n",
		"step02-two/two.go":            "package main\n\nfunc two() {}\n",
		"step02-two/step_test.go":      "package main\n\n// changed\n",
		"step02-two/testdata/x.go":     "package x\n",
		"step02-two/README.md":         "# Two\n\nText.\n\n" + beginMarker + "\nold\n" + endMarker + "\n\nAfter.\n",
		"step03-three/main.go":         "package main\n\nfunc main() {}\n",
		"step03-three/README.md":       "# Three\n",
		"step04-four/main.go":          "package main\n\nfunc main() {}\n",
		"step04-four/something_else.x": "",
	})
	code, _ := stepdiff(t, root)
	require.Equal(t, 0, code)

	two, err := os.ReadFile(filepath.Join(root, "step02-two/README.md"))
	require.NoError(t, err)
	require.Equal(t, "# Two\n\nText.\n\n"+beginMarker+"\n```diff\n"+
		"diff --git step01-one/main.go step02-two/main.go\nindex 38dd16d..d9e78f6 100644\n"+
		"--- step01-one/main.go\n+++ step02-two/main.go\n@@ -1,3 +1,3 @@\n package main\n \n-func main() {}\n+func main() { two() }\n"+
		"diff --git step02-two/two.go step02-two/two.go\nnew file mode 100644\nindex 0000000..5a30249\n"+
		"--- /dev/null\n+++ step02-two/two.go\n@@ -0,0 +1,3 @@\n+package main\n+\n+func two() {}\n"+
		"```\n"+endMarker+"\n\nAfter.\n", string(two))

	three, err := os.ReadFile(filepath.Join(root, "step03-three/README.md"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(three), "# Three\n\n## The code, step by step\n\n"), "%s", three)
	require.Contains(t, string(three), "--- step02-two/two.go\n+++ /dev/null\n", "a file the step removes")

	four, err := os.ReadFile(filepath.Join(root, "step04-four/README.md"))
	require.NoError(t, err)
	require.Equal(t, section[:strings.Index(section, beginMarker)]+beginMarker+"\n```diff\n```\n"+endMarker+"\n", string(four),
		"steps 03 and 04 have the same code: an empty diff")
	_, err = os.Stat(filepath.Join(root, "step01-one/README.md"))
	require.ErrorIs(t, err, os.ErrNotExist, "step 01 gets no diff")

	code, stderr := stepdiff(t, root, "-check")
	require.Equal(t, 0, code, stderr)
	code, _ = stepdiff(t, root)
	require.Equal(t, 0, code, "a second run changes nothing")
	again, err := os.ReadFile(filepath.Join(root, "step02-two/README.md"))
	require.NoError(t, err)
	require.Equal(t, string(two), string(again))
}

// Test that -check fails, naming the README, when a step's code changed
// after its diff was written, or a README lost its diff, and that it
// changes no file.
func TestCheckDetectsStaleReadme(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"go.mod":              "module example\n",
		"step01-one/main.go":  "package main\n\nfunc main() {}\n",
		"step02-two/main.go":  "package main\n\nfunc main() { println() }\n",
		"step03-three/a.go":   "package main\n\nfunc main() { println() }\n",
		"step03-three/doc.md": "",
	})
	code, _ := stepdiff(t, root)
	require.Equal(t, 0, code)
	code, stderr := stepdiff(t, root, "-check")
	require.Equal(t, 0, code, stderr)

	// Step 02's code changes: step 02's diff and step 03's are stale.
	writeTree(t, root, map[string]string{"step02-two/main.go": "package main\n\nfunc main() { println(2) }\n"})
	before, err := os.ReadFile(filepath.Join(root, "step02-two/README.md"))
	require.NoError(t, err)
	code, stderr = stepdiff(t, root, "-check")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "step02-two/README.md: the diff is stale")
	require.Contains(t, stderr, "step03-three/README.md: the diff is stale")
	after, err := os.ReadFile(filepath.Join(root, "step02-two/README.md"))
	require.NoError(t, err)
	require.Equal(t, string(before), string(after), "-check writes nothing")

	// A README rewritten without the markers has no diff.
	stepdiff(t, root)
	writeTree(t, root, map[string]string{"step03-three/README.md": "# Three, rewritten\n"})
	code, stderr = stepdiff(t, root, "-check")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "step03-three/README.md: the diff is missing")
	require.NotContains(t, stderr, "step02-two")
}

// Test that a README with only one of the two markers is refused rather
// than given a second section.
func TestRefusesHalfMarkedReadme(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"go.mod":               "module example\n",
		"step01-one/main.go":   "package main\n",
		"step02-two/main.go":   "package main\n\n// two\n",
		"step02-two/README.md": "# Two\n\n" + beginMarker + "\n",
	})
	code, stderr := stepdiff(t, root)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "step02-two/README.md: a generated-diff marker is there but not both")
}

// Test that a diff holding backquotes gets a longer fence.
func TestFenceOutgrowsBackquotes(t *testing.T) {
	require.Equal(t, "````diff\n+a ``` b\n````\n", fenced("+a ``` b\n"))
	require.Equal(t, "```diff\n+a ` b\n```\n", fenced("+a ` b\n"))
}

// Test that an excerpt's code block is written from the lines of its file
// that its expressions name, the whole file without them; that -check then
// passes, and fails, naming the README, once the code has changed; and that
// an excerpt whose expression matches nothing is an error naming its line.
func TestWritesExcerptsFromCode(t *testing.T) {
	root := t.TempDir()
	code := "package main\n\nfunc main() {\n\tserve()\n}\n\nfunc serve() {}\n"
	readme := "# One\n\nThe start:\n\n" +
		"[embedmd]:# (main.go go /^func main/ /^}/)\n```go\nold\n```\n\nAll of it:\n\n" +
		"[embedmd]:# (main.go go)\n````go\n````\n\nAfter.\n"
	writeTree(t, root, map[string]string{
		"go.mod":               "module example\n",
		"step01-one/main.go":   code,
		"step01-one/README.md": readme,
	})
	code1, _ := stepdiff(t, root)
	require.Equal(t, 0, code1)
	got, err := os.ReadFile(filepath.Join(root, "step01-one/README.md"))
	require.NoError(t, err)
	require.Equal(t, "# One\n\nThe start:\n\n"+
		"[embedmd]:# (main.go go /^func main/ /^}/)\n```go\nfunc main() {\n\tserve()\n}\n```\n\nAll of it:\n\n"+
		"[embedmd]:# (main.go go)\n````go\n"+code+"````\n\nAfter.\n", string(got))
	status, stderr := stepdiff(t, root, "-check")
	require.Equal(t, 0, status, "a current excerpt passes: %s", stderr)

	writeTree(t, root, map[string]string{"step01-one/main.go": strings.Replace(code, "serve()\n}", "serve(1)\n}", 1)})
	status, stderr = stepdiff(t, root, "-check")
	require.Equal(t, 1, status)
	require.Contains(t, stderr, "step01-one/README.md: an excerpt is not what its file holds now")

	writeTree(t, root, map[string]string{"step01-one/README.md": "[embedmd]:# (main.go go /^func gone/ /^}/)\n```go\n```\n"})
	status, stderr = stepdiff(t, root)
	require.Equal(t, 1, status)
	require.Contains(t, stderr, "step01-one/README.md: line 1: excerpt of main.go: no line matches /^func gone/")
}
