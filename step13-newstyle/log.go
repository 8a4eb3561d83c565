package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// A service manager reads a priority as syslog's severity alone, without
// the facility (sd-daemon(3)): err (3) or info (6).
const (
	priorityErr  = 3
	priorityInfo = 6
)

// daemonLog is the server's logger, and its workers'.
var daemonLog = &logger{file: os.Stderr}

// logError logs a failure of the running server, with priority err, on
// standard error for the service manager's journal (recommendation 11).
func logError(format string, args ...any) {
	daemonLog.send(priorityErr, format, args...)
}

// logInfo logs what the server does, such as its start and its stop, with
// priority info, on standard error (recommendation 11).
func logInfo(format string, args ...any) {
	daemonLog.send(priorityInfo, format, args...)
}

// logger writes each message to standard error as one line, prefixed with
// its priority: "<3>cannot start: ...". This replaces syslog
// (recommendation 11): a service manager connects standard error to its
// journal (systemd's StandardError=journal, the default), which reads the
// prefix as the priority and adds the time, the program's name and its pid
// by itself. Run from a shell, the lines show on the terminal.
type logger struct {
	mu   sync.Mutex // the main loop and the accept goroutine both log
	file *os.File   // standard error
	lost int        // messages standard error did not take, told with the next one
}

// send writes one message, as one line: oneLine escapes any newline that
// a path or a peer put in it, so that no one can forge a line. One write a
// line, so that the lines of the server and of its workers, which share
// the descriptor, do not interleave. A message that standard error does
// not take (the journal went away, a file reached its size limit) is
// counted, and the next one tells how many were lost.
func (l *logger) send(priority int, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	text := oneLine(fmt.Sprintf(format, args...))
	if l.lost > 0 {
		text += fmt.Sprintf(" (%d earlier messages lost)", l.lost)
	}
	if _, err := l.file.WriteString(fmt.Sprintf("<%d>%s\n", priority, text)); err != nil {
		l.lost++
		return
	}
	l.lost = 0
}

// oneLine escapes the control characters in s, a newline above all, so
// that a message stays one line whatever path it quotes: a newline on
// standard error could start a forged entry in the journal.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	quoted := strconv.Quote(s)
	return quoted[1 : len(quoted)-1]
}
