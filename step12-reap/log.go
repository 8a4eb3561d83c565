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

const priorityErr, priorityInfo = 3<<3 | 3, 3<<3 | 6 // facility daemon<<3 | severity

var daemonLog = &logger{} // the server's logger; before startLogging, it counts losses

// logError and logInfo log with priority err and info (recommendation 11).
func logError(format string, args ...any) { daemonLog.send(priorityErr, format, args...) }

func logInfo(format string, args ...any) { daemonLog.send(priorityInfo, format, args...) }

// logger sends each message to syslog (RFC 3164), or else to the -log file.
type logger struct {
	mu         sync.Mutex // the main loop and the accept goroutine both log
	syslogPath string
	file       *os.File // the -log file
	lost       int      // messages neither took, told with the next one
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

// send writes one message, as one line: oneLine escapes any newline that
// a path or a peer put in it, so that no one can forge a line.
func (l *logger) send(priority int, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	text := oneLine(fmt.Sprintf(format, args...))
	if l.lost > 0 {
		text += fmt.Sprintf(" (%d earlier messages lost)", l.lost)
	}
	line := fmt.Sprintf("%s %s[%d]: %s", time.Now().Format(time.Stamp), progName, os.Getpid(), text)
	if sendSyslog(l.syslogPath, fmt.Sprintf("<%d>%s", priority, line)) == nil {
		l.lost = 0
	} else if _, err := fmt.Fprintln(l.file, line); err == nil {
		l.lost = 0
	} else {
		l.lost++
	}
}

// sendSyslog sends one datagram to the syslog daemon at path, on a new socket
// that finds a restarted syslog. MSG_DONTWAIT: a syslog that stopped reading
// costs an EAGAIN, not a stuck server as with log/syslog (golang/go#23604).
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
