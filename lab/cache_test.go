package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// umaskCall is step 09's recommendation in its code: the call that the
// cache test breaks.
var umaskCall = regexp.MustCompile(`unix\.Umask\(0o?027\)`)

// Test that a change to the program's code makes "go test" run the tests
// again, with no -count=1: in a copy of step 09 (the lab of step 09 with
// its solution in place, a module of its own outside the repository), a
// passing test is cached on the second run, and after the umask is
// broken the third run is a real one, and fails.
func TestChangedCodeRerunsTests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test three times in a module of its own")
	}
	t.Parallel()
	dir := stableLabDir(t, "lab09")
	var stdout, stderr bytes.Buffer
	require.Equalf(t, 0, run([]string{"-root", repoRoot(t), "-step", "9", "-o", dir, "-solution"}, &stdout, &stderr),
		"go run ./lab -step 9 -o %s -solution: %s", dir, stderr.String())
	require.NoError(t, useSolution(dir), "put step 09's code in place in %s", dir)
	// The go command does not cache a run that read a file changed in the
	// last few seconds: make the fresh lab look old.
	old := time.Now().Add(-time.Hour)
	for _, f := range filesIn(t, dir) {
		require.NoError(t, os.Chtimes(filepath.Join(dir, f), old, old))
	}

	const test = "TestServerUmaskIs027"
	goTestOnce := func() (string, error) {
		cmd := exec.Command("go", "test", "-run", "^"+test+"$", ".")
		cmd.Dir = dir
		// GOFLAGS=-count=1 would defeat the point: clear it.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-buildvcs=false")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	first, err := goTestOnce()
	require.NoErrorf(t, err, "the first run of %s on step 09's code must pass:\n%s", test, first)
	second, err := goTestOnce()
	require.NoErrorf(t, err, "the second run must pass:\n%s", second)
	require.Containsf(t, second, "(cached)", "the second run, with nothing changed, comes from the cache (so that the third one proves something)")

	code, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	broken := ""
	for _, f := range code {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		if umaskCall.Match(b) && !strings.HasSuffix(f, "_test.go") {
			require.NoError(t, os.WriteFile(f, umaskCall.ReplaceAll(b, []byte("unix.Umask(0)")), 0o644))
			broken = f
		}
	}
	require.NotEmptyf(t, broken, "no call %v in step 09's code %v to break", umaskCall, code)
	t.Logf("in %s: unix.Umask(0o027) -> unix.Umask(0)", filepath.Base(broken))
	third, err := goTestOnce()
	require.NotContainsf(t, third, "(cached)", "after %s changed, go test must run the tests again, not print a cached result:\n%s", broken, third)
	require.Errorf(t, err, "with umask 0, %s must fail:\n%s", test, third)
	require.Containsf(t, third, "--- FAIL: "+test, "the failure is the test's own, not a build error:\n%s", third)
}

// stableLabDir returns an empty directory named name at the same path in
// every run, held for this test alone until it ends. Go's build cache keys
// a package on its directory as well as its files (the path is written into
// the compiled code), so a lab made in a new temporary directory has every
// package of its module compiled afresh, about five seconds of CPU each
// time; at one path it is compiled once and kept. The directory lives in
// the user's cache directory, beside internal/build's binaries, and a lock
// keeps two go test runs at once from sharing it. Without a cache directory
// it is a temporary one, and compiled afresh.
func stableLabDir(t *testing.T, name string) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err == nil {
		cache = filepath.Join(cache, "daemon-steps", "lab-cache-test")
		err = os.MkdirAll(cache, 0o755)
	}
	if err != nil {
		t.Logf("no cache directory (%v): the lab's packages are compiled afresh", err)
		return filepath.Join(t.TempDir(), name)
	}
	lock, err := os.OpenFile(filepath.Join(cache, name+".lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o644)
	require.NoError(t, err, "set-up: open the lock of %s", cache)
	t.Cleanup(func() { lock.Close() }) // releases the lock
	require.NoError(t, unix.Flock(int(lock.Fd()), unix.LOCK_EX), "set-up: lock %s", lock.Name())
	dir := filepath.Join(cache, name)
	require.NoError(t, os.RemoveAll(dir), "set-up: empty %s", dir)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
