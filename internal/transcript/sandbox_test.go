package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The test binary plays the sandbox's init too, as the command does.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == roleInit {
		os.Exit(runInit())
	}
	os.Exit(m.Run())
}

// writeReadme writes a README holding one transcript block.
func writeReadme(t *testing.T, block string) []command {
	t.Helper()
	path := filepath.Join(t.TempDir(), "README.md")
	require.NoError(t, os.WriteFile(path, []byte("```\n"+block+"```\n"), 0o644))
	cmds, err := parseFile(path)
	require.NoErrorf(t, err, "parse %s", path)
	return cmds
}

// sleepsLeft lists the processes whose command line holds marker.
func sleepsLeft(marker string) []string {
	var left []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err == nil && strings.Contains(string(b), marker) {
			left = append(left, d)
		}
	}
	return left
}

// Test that a transcript runs in a sandbox of its own: a job-control shell
// on a terminal, a private /tmp, an init that adopts orphans as pid 1, and
// nothing left running afterwards. Needs root (namespaces).
func TestTranscriptRunsInSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the sandbox is a pid and mount namespace")
	}
	marker := "1000." + strconv.Itoa(os.Getpid()) // a sleep of its own
	// A file in the machine's /tmp that the private /tmp must not show. (The
	// private /tmp is not always empty: a repository cloned under /tmp is
	// bound back at its own path.)
	outside, err := os.CreateTemp("/tmp", "transcript-outside-")
	require.NoError(t, err, "set-up: a file in the machine's /tmp")
	outside.Close()
	defer os.Remove(outside.Name())
	cmds := writeReadme(t, ""+
		"$ test -e "+outside.Name()+"; echo $?\n"+
		"1\n"+
		"$ tty\n"+
		"/dev/pts/3\n"+
		"$ (sleep "+marker+" &); sleep 0.2; ps -o ppid= -C sleep\n"+
		"      1\n"+
		"$ sleep "+marker+" & sleep 0.2; jobs\n"+
		"[1]+  Running                 sleep "+marker+" &\n")
	root, err := os.Getwd()
	require.NoError(t, err)
	err = runFile(root, cmds, 20*time.Second, false)
	require.NoErrorf(t, err, "a private /tmp, a terminal, init as the orphan's parent and job control were expected")
	require.Emptyf(t, sleepsLeft(marker), "the sandbox must leave no process behind; still running: %v", sleepsLeft(marker))
}

// Test that a command that breaks fails the run: a wrong output, and a
// failing `cat /proc/...` the README shows without a status.
func TestBrokenCommandFails(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the sandbox is a pid and mount namespace")
	}
	root, err := os.Getwd()
	require.NoError(t, err)
	for _, block := range []string{
		"$ cat /proc/self/no-such-file\n",
		"$ echo one\ntwo\n",
		"$ grep -c . /proc/self/status; echo \"exit status $?\"\n42\nexit status 0\n",
	} {
		err := runFile(root, writeReadme(t, block), 20*time.Second, false)
		require.Errorf(t, err, "the transcript %q must fail", block)
	}
}
