package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/sys/unix"
)

// A syslog priority is the facility times 8 plus the severity (RFC 3164,
// section 4.1.1). The server logs as the facility daemon (3), with the
// severity err (3) or info (6).
const (
	priorityErr  = 3<<3 | 3
	priorityInfo = 3<<3 | 6
)

// daemonLog is the server's logger. Until startLogging has told it where
// to write, it counts the messages it loses.
var daemonLog = &logger{}

// logError logs a failure of the running server, with priority err
// (recommendation 11).
func logError(format string, args ...any) {
	daemonLog.send(priorityErr, format, args...)
}

// logInfo logs what the server does, such as its start and its stop, with
// priority info (recommendation 11).
func logInfo(format string, args ...any) {
	daemonLog.send(priorityInfo, format, args...)
}

// logger sends each message to syslog as one RFC 3164 datagram tagged
// NAME[PID], or appends it to the -log file when syslog cannot take it at
// once.
type logger struct {
	mu         sync.Mutex // the main loop and the accept goroutine both log
	syslogPath string     // the syslog daemon's datagram socket (-syslog)
	file       *os.File   // the -log file
	lost       int        // messages neither took, told with the next one
}

// startLogging opens the -log file and points descriptor 2 at it, so that a
// panic's stack trace is not lost in /dev/null (recommendation 11).
func startLogging(syslogPath, logPath string) error {
	file, err := openPrivateFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	if err := unix.Dup3(int(file.Fd()), 2, 0); err != nil {
		file.Close()
		return fmt.Errorf("log file: point descriptor 2 at it: %w", err)
	}
	daemonLog.syslogPath, daemonLog.file = syslogPath, file
	return nil
}

// send logs one message, as one line: oneLine escapes any newline that a
// path or a peer put in it, so that no one can forge a line. A message
// that neither syslog nor the file takes is counted, and the next one
// tells how many were lost.
func (l *logger) send(priority int, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	text := oneLine(fmt.Sprintf(format, args...))
	if l.lost > 0 {
		text += fmt.Sprintf(" (%d earlier messages lost)", l.lost)
	}
	line := fmt.Sprintf("%s %s[%d]: %s", time.Now().Format(time.Stamp), progName, os.Getpid(), text)
	if l.write(priority, line) {
		l.lost = 0
	} else {
		l.lost++
	}
}

// write sends line to syslog with its priority or, when syslog does not
// take it, appends it to the -log file. It reports whether either took it.
func (l *logger) write(priority int, line string) bool {
	if err := sendSyslog(l.syslogPath, fmt.Sprintf("<%d>%s", priority, line)); err == nil {
		return true
	}
	_, err := fmt.Fprintln(l.file, line)
	return err == nil
}

// sendSyslog sends one datagram to the syslog daemon at path. MSG_DONTWAIT:
// a syslog that stopped reading costs an EAGAIN, not a stuck server, as it
// would with log/syslog (golang/go#23604). A socket per message finds a
// syslog daemon restarted since the last.
func sendSyslog(path, datagram string) error {
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(sock)
	return unix.Sendto(sock, []byte(datagram), unix.MSG_DONTWAIT, &unix.SockaddrUnix{Name: path})
}

// oneLine escapes the control characters in s, a newline above all, so
// that a message stays one line whatever path it quotes: the launcher reads
// one line, and a newline in a log could start a forged entry.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	quoted := strconv.Quote(s)
	return quoted[1 : len(quoted)-1]
}
