package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Test that Unified writes the hunks diff -u writes for small edits.
func TestUnifiedMatchesExamples(t *testing.T) {
	lines := func(n ...int) string {
		var b strings.Builder
		for _, i := range n {
			fmt.Fprintf(&b, "line %d\n", i)
		}
		return b.String()
	}
	for _, c := range []struct {
		name     string
		old, new string
		want     string
	}{
		{"equal", lines(1, 2), lines(1, 2), ""},
		{"insert in the middle", lines(1, 2, 3, 4, 5, 6, 7, 8), lines(1, 2, 3, 4, 40, 5, 6, 7, 8), `--- a
+++ b
@@ -2,6 +2,7 @@
 line 2
 line 3
 line 4
+line 40
 line 5
 line 6
 line 7
`},
		{"change at the start", lines(1, 2, 3, 4, 5), lines(10, 2, 3, 4, 5), `--- a
+++ b
@@ -1,4 +1,4 @@
-line 1
+line 10
 line 2
 line 3
 line 4
`},
		{"two hunks", lines(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), lines(2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14), `--- a
+++ b
@@ -1,4 +1,3 @@
-line 1
 line 2
 line 3
 line 4
@@ -12,4 +11,3 @@
 line 12
 line 13
 line 14
-line 15
`},
		{"changes six kept lines apart share a hunk", lines(1, 2, 3, 4, 5, 6, 7), lines(2, 3, 4, 5, 6, 7, 8), `--- a
+++ b
@@ -1,7 +1,7 @@
-line 1
 line 2
 line 3
 line 4
 line 5
 line 6
 line 7
+line 8
`},
		{"changes seven kept lines apart do not", lines(1, 2, 3, 4, 5, 6, 7, 8), lines(2, 3, 4, 5, 6, 7, 8, 9), `--- a
+++ b
@@ -1,4 +1,3 @@
-line 1
 line 2
 line 3
 line 4
@@ -6,3 +5,4 @@
 line 6
 line 7
 line 8
+line 9
`},
		{"an added function reads as one", "func a() {\n\treturn\n}\n\nfunc c() {}\n",
			"func a() {\n\treturn\n}\n\nfunc b() {\n\treturn\n}\n\nfunc c() {}\n", `--- a
+++ b
@@ -2,4 +2,8 @@
 	return
 }
 
+func b() {
+	return
+}
+
 func c() {}
`},
		{"a deleted function reads as one", "func a() {\n\treturn\n}\n\nfunc b() {\n\treturn\n}\n\nfunc c() {}\n",
			"func a() {\n\treturn\n}\n\nfunc c() {}\n", `--- a
+++ b
@@ -2,8 +2,4 @@
 	return
 }
 
-func b() {
-	return
-}
-
 func c() {}
`},
		{"new file", "", lines(1, 2), `--- a
+++ b
@@ -0,0 +1,2 @@
+line 1
+line 2
`},
		{"deleted file", lines(1), "", `--- a
+++ b
@@ -1 +0,0 @@
-line 1
`},
		{"no newline at the end", "x\ny", "x\ny\n", `--- a
+++ b
@@ -1,2 +1,2 @@
 x
-y
\ No newline at end of file
+y
`},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, Unified("a", "b", c.old, c.new))
		})
	}
}

// Test that applying the diff of two texts to the first gives the second,
// for many random edits, and that diff -u agrees on how many lines change.
func TestUnifiedAppliesBack(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gnu, _ := exec.LookPath("diff")
	dir := t.TempDir()
	for round := range 200 {
		var a []string
		for range r.IntN(30) {
			a = append(a, strconv.Itoa(r.IntN(8))+"\n") // few values: many equal lines
		}
		b := append([]string(nil), a...)
		for range r.IntN(6) {
			switch i := r.IntN(len(b) + 1); {
			case r.IntN(2) == 0 && i < len(b):
				b = append(b[:i], b[i+1:]...)
			default:
				b = append(b[:i], append([]string{strconv.Itoa(r.IntN(8)) + "\n"}, b[i:]...)...)
			}
		}
		oldText, newText := strings.Join(a, ""), strings.Join(b, "")
		d := Unified("a", "b", oldText, newText)
		require.Equal(t, newText, apply(t, oldText, d), "round %d:\n%s", round, d)

		if gnu == "" {
			continue
		}
		pa, pb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		require.NoError(t, os.WriteFile(pa, []byte(oldText), 0o644))
		require.NoError(t, os.WriteFile(pb, []byte(newText), 0o644))
		out, _ := exec.Command(gnu, "-u", pa, pb).Output()
		require.Equal(t, changedLines(string(out)), changedLines(d), "round %d: diff -u changes as many lines\n%s\n%s", round, out, d)
	}
}

// changedLines counts the deleted and the inserted lines of a diff.
func changedLines(diff string) [2]int {
	var n [2]int
	for _, l := range strings.Split(diff, "\n") {
		switch {
		case strings.HasPrefix(l, "---"), strings.HasPrefix(l, "+++"):
		case strings.HasPrefix(l, "-"):
			n[0]++
		case strings.HasPrefix(l, "+"):
			n[1]++
		}
	}
	return n
}

// apply applies a unified diff of one file to old, checking every context
// and deleted line against it.
func apply(t *testing.T, old, diff string) string {
	t.Helper()
	a := split(old)
	var out []string
	next := 0 // the index of the first line of a not yet copied
	for _, l := range split(diff) {
		switch {
		case strings.HasPrefix(l, "---"), strings.HasPrefix(l, "+++"):
		case strings.HasPrefix(l, "@@"):
			var start, n int
			_, err := fmt.Sscanf(l, "@@ -%d,%d", &start, &n)
			if err != nil {
				_, err = fmt.Sscanf(l, "@@ -%d", &start)
				n = 1
			}
			require.NoError(t, err, l)
			if n > 0 {
				start-- // counted from 1
			}
			out = append(out, a[next:start]...)
			next = start
		case strings.HasPrefix(l, " "), strings.HasPrefix(l, "-"):
			require.Equal(t, a[next], l[1:], "the diff's line %q is the old text's", l)
			if l[0] == ' ' {
				out = append(out, a[next])
			}
			next++
		case strings.HasPrefix(l, "+"):
			out = append(out, l[1:])
		default:
			t.Fatalf("unexpected diff line %q", l)
		}
	}
	return strings.Join(append(out, a[next:]...), "")
}

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
		"--- step01-one/main.go\n+++ step02-two/main.go\n@@ -1,3 +1,3 @@\n package main\n \n-func main() {}\n+func main() { two() }\n"+
		"--- /dev/null\n+++ step02-two/two.go\n@@ -0,0 +1,3 @@\n+package main\n+\n+func two() {}\n"+
		"```\n"+endMarker+"\n\nAfter.\n", string(two))

	three, err := os.ReadFile(filepath.Join(root, "step03-three/README.md"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(three), "# Three\n\n## The code, step by step\n\n"), "%s", three)
	require.Contains(t, string(three), "--- step02-two/two.go\n+++ /dev/null\n")

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
