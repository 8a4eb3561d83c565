package main

import (
	"fmt"
	"os"
	"strings"
)

// The priorities of the messages, as sd-daemon(3) prefixes them: syslog's
// severities, in angle brackets at the start of a line.
const (
	priErr  = 3 // <3>: something failed
	priInfo = 6 // <6>: what the server does
)

// logLine writes one message to standard error as one line, prefixed with
// its priority: "<3>cannot start: ...". This replaces syslog
// (recommendation 11): a service manager connects standard error to its
// journal (systemd's StandardError=journal, the default), which reads the
// prefix as the priority and adds the time, the program's name and its pid
// by itself. Run from a shell, the lines show on the terminal.
//
// One write a line, so that lines from the server and its workers, which
// share the descriptor, do not interleave. A message that holds a newline
// would become two events: the newline is written as \n.
func logLine(priority int, format string, args ...any) {
	text := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", `\n`)
	os.Stderr.WriteString(fmt.Sprintf("<%d>%s\n", priority, text))
}
