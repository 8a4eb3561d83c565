package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// progress shows what the bench is doing on one line of standard error,
// rewritten in place on a terminal.
type progress struct {
	w        io.Writer
	terminal bool
	server   string // the server being measured, "[2/6] step 12"
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		p.terminal = err == nil
	}
	return p
}

// say shows what is being done now.
func (p *progress) say(format string, args ...any) {
	line := "bench: "
	if p.server != "" {
		line += p.server + ": "
	}
	line += fmt.Sprintf(format, args...)
	if p.terminal {
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// done clears the line on a terminal.
func (p *progress) done() {
	if p.terminal {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
