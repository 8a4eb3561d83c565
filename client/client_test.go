// The tests build the client and run it as a shell would, against an echo
// listener of their own: they check what it writes, and its exit status.
package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"daemon-steps/internal/build"
)

// runTimeout bounds one run of the client, so that a client that hangs
// fails its test instead of the whole package timing out.
const runTimeout = 10 * time.Second

// binary is the client under test, built by TestMain.
var binary string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

// testMain builds the client once, runs the tests, and removes the build
// (os.Exit in TestMain would skip a deferred cleanup).
func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "client")
	if err != nil {
		fmt.Fprintf(os.Stderr, "client test: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "client")
	if err := build.Step(context.Background(), ".", binary); err != nil {
		fmt.Fprintf(os.Stderr, "client test: %v\n", err)
		return 1
	}
	return m.Run()
}

// socketPath returns a socket path in a new short temporary directory,
// removed when the test ends. t.TempDir would hold the test's name and can
// make the path longer than the 107 bytes a Unix socket address holds.
func socketPath(t *testing.T) string {
	dir, err := os.MkdirTemp("", "")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

// serve listens on a new socket and answers each connection with handle,
// until the test ends. It returns the socket's path.
func serve(t *testing.T, handle func(conn *net.UnixConn)) string {
	path := socketPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close() // ends the accept loop
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				handle(conn)
			})
		}
	})
	return path
}

// echo is what the daemon's workers do: send back every byte until the
// client closes its writing side, then close.
func echo(conn *net.UnixConn) { io.Copy(conn, conn) }

// result is how one run of the client ended.
type result struct {
	code           int
	stdout, stderr []byte
}

// run runs cmd with stdin as its standard input, and returns its output
// and exit status.
func run(t *testing.T, cmd *exec.Cmd, stdin io.Reader) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	t.Logf("run %s", strings.Join(cmd.Args, " "))
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil {
		require.ErrorAs(t, err, &exitErr, "the client ran")
	}
	r := result{code: cmd.ProcessState.ExitCode(), stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	t.Logf("exit status %d; %d bytes on stdout; stderr %q", r.code, len(r.stdout), r.stderr)
	return r
}

// client returns a command that runs the client with args, killed if it
// runs longer than runTimeout.
func client(t *testing.T, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	t.Cleanup(cancel)
	return exec.CommandContext(ctx, binary, args...)
}

// Test that a line piped in from a shell comes back, and the client exits 0.
func TestEchoesLineFromPipeline(t *testing.T) {
	t.Parallel()
	socket := serve(t, echo)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `printf 'hi\n' | "$0" -socket "$1"`, binary, socket)
	r := run(t, cmd, nil)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Equal(t, "hi\n", string(r.stdout))
	require.Empty(t, r.stderr)
}

// Test that 4 MiB of random bytes come back unchanged: the client is
// binary-safe and does not stall when input and echo fill the socket's
// buffers.
func TestEchoesLargeBinaryData(t *testing.T) {
	t.Parallel()
	socket := serve(t, echo)
	data := make([]byte, 4<<20)
	rand.Read(data)
	r := run(t, client(t, "-socket", socket), bytes.NewReader(data))
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.True(t, bytes.Equal(data, r.stdout), "sent %d bytes, got %d back", len(data), len(r.stdout))
}

// Test that empty input sends nothing, gets nothing back, and exits 0: the
// client closes its writing side at once, and the server closes.
func TestEmptyInputExitsZero(t *testing.T) {
	t.Parallel()
	socket := serve(t, echo)
	r := run(t, client(t, "-socket", socket), strings.NewReader(""))
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Empty(t, r.stdout)
	require.Empty(t, r.stderr)
}

// Test that the client exits 0 once the server has closed, even while its
// own input has not ended.
func TestExitsWhenServerCloses(t *testing.T) {
	t.Parallel()
	socket := serve(t, func(conn *net.UnixConn) {
		line := make([]byte, len("hi\n"))
		io.ReadFull(conn, line)
		conn.Write(line)
	})
	stdin, w, err := os.Pipe()
	require.NoError(t, err)
	defer w.Close() // held open until the client has exited: no end of input
	defer stdin.Close()
	_, err = w.Write([]byte("hi\n"))
	require.NoError(t, err)
	r := run(t, client(t, "-socket", socket), stdin)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Equal(t, "hi\n", string(r.stdout))
}

// Test that with no server, the client says so in one line on its standard
// error, without a stack trace, and exits 1.
func TestNoServerExitsOne(t *testing.T) {
	t.Parallel()
	missing := socketPath(t)
	// A socket file that nobody listens on, as a killed server leaves it.
	stale := socketPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	require.NoError(t, err)
	ln.SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
	for name, socket := range map[string]string{"no socket file": missing, "nobody listens": stale} {
		r := run(t, client(t, "-socket", socket), strings.NewReader("hi\n"))
		require.Equal(t, 1, r.code, name)
		require.Empty(t, r.stdout, name)
		msg := string(r.stderr)
		require.Equal(t, 1, strings.Count(msg, "\n"), "%s: one line: %q", name, msg)
		require.Contains(t, msg, "connect "+socket+": ", name)
		require.Contains(t, msg, "(is the server running?)", name)
		require.NotContains(t, msg, "goroutine", "%s: no stack trace", name)
	}
}

// Test that an unknown flag or a stray argument shows the usage and exits
// 2, without connecting.
func TestBadCommandLineExitsTwo(t *testing.T) {
	t.Parallel()
	socket := serve(t, echo)
	for _, args := range [][]string{
		{"-no-such-flag"},
		{"-socket", socket, "stray-argument"},
		{"-socket"},
	} {
		r := run(t, client(t, args...), strings.NewReader("hi\n"))
		require.Equal(t, 2, r.code, "%v", args)
		require.Empty(t, r.stdout, "%v: nothing echoed", args)
		require.Contains(t, string(r.stderr), "Usage", "%v: the usage is shown", args)
		require.NotContains(t, string(r.stderr), "goroutine", "%v: no stack trace", args)
	}
}
