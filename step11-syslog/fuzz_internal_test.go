package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// FuzzLogMessageIsOneLine checks that whatever a path holds, a message
// that quotes it is written as exactly one line (recommendation 11): no
// path can forge a log line. The seeds are the attacks the tests know of,
// and a path whose quoted lines outgrow a pipe's 64 KiB.
// It tests the code from inside (package main), so a lab counts it with
// the code, not with the tests. CI runs it briefly: go test -run '^$' -fuzz FuzzLogMessageIsOneLine -fuzztime 20000x
func FuzzLogMessageIsOneLine(f *testing.F) {
	for _, seed := range []string{"/tmp/s.sock", "dir/x\nFORGED: root logged in", "a\r\nb", "\x1b[2J\x00", "\u2028\u0085", "", strings.Repeat("\x00", 20000)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// Read while the logger writes: a long path makes lines longer
		// than the pipe holds, and a write to a full pipe waits.
		read := make(chan []byte)
		go func() {
			b, _ := io.ReadAll(r)
			read <- b
		}()
		l := &logger{syslogPath: "/nonexistent/syslog", file: w}
		l.send(priorityInfo, "started: listens on %q", path)
		l.send(priorityErr, "socket %s: refused", path) // a path that reached a message unquoted
		w.Close()
		b := <-read
		if lines := strings.Count(string(b), "\n"); lines != 2 {
			t.Fatalf("two messages quoting the path %q must be two lines; they are %d: %q", path, lines, b)
		}
	})
}

// FuzzSocketPathIsChecked checks that the -socket check never accepts a
// path the kernel cannot bind (a NUL, too long, abstract), and that its
// error reaches the launcher as one line.
func FuzzSocketPathIsChecked(f *testing.F) {
	for _, seed := range []string{"/tmp/s.sock", "@abstract", "a\x00b", strings.Repeat("x", 108), "rel/x\nFORGED"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		got, err := socketPath(path)
		if err != nil {
			if msg := oneLine(err.Error()); strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("the error for -socket %q must be one line: %q", path, msg)
			}
			return
		}
		if got == "" || strings.HasPrefix(got, "@") || strings.ContainsRune(got, 0) || len(got) > maxSocketPath {
			t.Fatalf("-socket %q was accepted as %q, which the kernel cannot bind as a file", path, got)
		}
	})
}
