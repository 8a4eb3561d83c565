package main

import (
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Test that a panic in a worker is written to descriptor 2, the log, as
// one line that names the worker's pid and holds the panic's value and
// stack, and that the worker then exits with status 2, as an unrecovered
// panic would: the Go runtime's own trace of a panic names no process, and
// many workers share the log (recommendation 12: nothing is lost without a
// trace). It tests the code from inside (package main), so a lab counts it
// with the code, not with the tests.
func TestWorkerPanicIsLoggedWithPid(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	read := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		read <- b
	}()
	saved, err := unix.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Dup3(int(w.Fd()), 2, 0); err != nil {
		t.Fatal(err)
	}
	// go test -json points os.Stderr at standard output: point it at the
	// pipe as well.
	stderr := os.Stderr
	os.Stderr = w
	code := func() (code int) {
		defer recoverWorker(&code)
		panic("boom")
	}()
	os.Stderr = stderr
	unix.Dup3(saved, 2, 0)
	unix.Close(saved)
	w.Close()
	out := string(<-read)
	t.Logf("the worker's descriptor 2 got %q", out)
	if code != 2 {
		t.Errorf("a worker that panics must exit with status 2, as an unrecovered panic does; recoverWorker set %d", code)
	}
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("a worker's panic must be logged as one line (a line that holds the stack, its newlines escaped); descriptor 2 got %q", out)
	}
	pid := regexp.MustCompile(`\b` + strconv.Itoa(os.Getpid()) + `\b`)
	for _, want := range []string{"boom", "goroutine "} {
		if !strings.Contains(out, want) {
			t.Errorf("a worker's panic must be logged with its value and its stack: %q is missing from %q", want, out)
		}
	}
	if !pid.MatchString(out) {
		t.Errorf("a worker's panic must be logged with the worker's pid %d; descriptor 2 got %q", os.Getpid(), out)
	}
}
