package main

import (
	"fmt"
	"log/syslog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Limits of the logger.
const (
	logQueue = 64          // messages waiting for the logging goroutine
	logFlush = time.Second // how long flush waits for queued messages
)

// daemonLog is the server's logger, once startLogging has run.
var daemonLog *logger

// logger sends the server's messages to the syslog daemon, as RFC 3164
// datagrams with facility daemon and the tag NAME[PID], and appends them to
// the -log file while no syslog daemon answers.
//
// A goroutine of its own does the writing. log/syslog has no write
// deadline (golang/go#23604), and a syslog daemon that stops reading its
// socket makes a write block for good once the socket's queue is full:
// that must stall the logging goroutine at most, never the server. When the
// goroutine falls behind, messages go straight to the file.
type logger struct {
	syslogPath string
	file       *os.File
	queue      chan logMessage
}

// logMessage is one message, or, with flushed set, a request to say when
// every message before it has been written.
type logMessage struct {
	priority syslog.Priority
	text     string
	flushed  chan struct{}
}

// startLogging opens the -log file, points descriptor 2 at it, and starts
// the logging goroutine (recommendation 11).
func startLogging(syslogPath, logPath string) error {
	file, err := openRegularFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	// Descriptor 2 is /dev/null (recommendation 6). What the Go runtime
	// writes there, the stack trace of a panic or the goroutine dump of
	// SIGQUIT, would be lost: point it at the log file instead.
	if err := unix.Dup3(int(file.Fd()), 2, 0); err != nil {
		file.Close()
		return fmt.Errorf("log file: point descriptor 2 at it: %w", err)
	}
	daemonLog = &logger{syslogPath: syslogPath, file: file, queue: make(chan logMessage, logQueue)}
	go daemonLog.run()
	return nil
}

// send queues a message for the logging goroutine, or writes it to the
// file at once if the queue is full. Before logging has started, it goes
// to standard error.
func (l *logger) send(priority syslog.Priority, format string, args ...any) {
	m := logMessage{priority: priority, text: fmt.Sprintf(format, args...)}
	if l == nil {
		fmt.Fprintf(os.Stderr, "%s: %s\n", progName, m.text)
		return
	}
	select {
	case l.queue <- m:
	default:
		l.writeFile(m)
	}
}

// flush waits until the messages sent so far are written, or logFlush has
// passed.
func (l *logger) flush() {
	if l == nil {
		return
	}
	done := make(chan struct{})
	timeout := time.After(logFlush)
	select {
	case l.queue <- logMessage{flushed: done}:
	case <-timeout:
		return
	}
	select {
	case <-done:
	case <-timeout:
	}
}

// run writes the queued messages to syslog, and to the file while the
// syslog daemon does not answer. Without a connection it tries to connect
// again for each message: a syslog daemon started or restarted after the
// server is used from its first message on, and a failed connect to a Unix
// socket costs microseconds, in this goroutine only.
func (l *logger) run() {
	var w *syslog.Writer
	for m := range l.queue {
		if m.flushed != nil {
			close(m.flushed)
			continue
		}
		if w == nil {
			w, _ = syslog.Dial("unixgram", l.syslogPath, syslog.LOG_DAEMON|syslog.LOG_INFO, progName)
		}
		if w != nil {
			if err := writeSyslog(w, m); err == nil {
				continue
			}
			w.Close()
			w = nil
		}
		l.writeFile(m)
	}
}

// writeSyslog sends m to syslog with its priority.
func writeSyslog(w *syslog.Writer, m logMessage) error {
	if m.priority == syslog.LOG_ERR {
		return w.Err(m.text)
	}
	return w.Info(m.text)
}

// writeFile appends m to the log file, in the form syslog would use.
func (l *logger) writeFile(m logMessage) {
	fmt.Fprintf(l.file, "%s %s[%d]: %s\n", time.Now().Format(time.Stamp), progName, os.Getpid(), m.text)
}
