// Package syslogsink stands in for the syslog daemon: it binds a datagram
// socket where a program under test sends its -syslog messages, collects
// them, and parses the RFC 3164 form they take. The step tests, the tour,
// the bench and demo/syslogd all use it.
package syslogsink

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Sink is a datagram socket bound at a sandbox's -syslog path (or a
// $NOTIFY_SOCKET), whose messages a goroutine collects.
type Sink struct {
	conn *net.UnixConn
	each func(string) // called with each message as it comes, if not nil
	mu   sync.Mutex
	msgs []string
	done chan struct{}
}

// Listen binds a datagram socket at path and collects what arrives there
// until Close.
func Listen(path string) (*Sink, error) { return ListenEach(path, nil) }

// ListenEach is Listen, calling each (when not nil) with every message
// as it comes, from the goroutine that receives them.
func ListenEach(path string, each func(msg string)) (*Sink, error) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("bind the datagram socket %s: %w", path, err)
	}
	s := &Sink{conn: conn, each: each, done: make(chan struct{})}
	go s.receive()
	return s, nil
}

func (s *Sink) receive() {
	defer close(s.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			s.add(string(buf[:n]))
		}
		if err != nil {
			return
		}
	}
}

func (s *Sink) add(msg string) {
	msg = strings.TrimRight(msg, "\n\x00")
	s.mu.Lock()
	s.msgs = append(s.msgs, msg)
	s.mu.Unlock()
	if s.each != nil {
		s.each(msg)
	}
}

// Close stops receiving, keeps what is still queued (the server's goodbye
// may have just arrived), and closes the socket.
func (s *Sink) Close() {
	s.conn.SetReadDeadline(time.Now())
	<-s.done
	if raw, err := s.conn.SyscallConn(); err == nil {
		buf := make([]byte, 64<<10)
		raw.Control(func(fd uintptr) {
			for {
				n, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
				if err != nil || n <= 0 {
					return
				}
				s.add(string(buf[:n]))
			}
		})
	}
	s.conn.Close()
}

// Messages returns the datagrams that have come so far, in order.
func (s *Sink) Messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// Message is a message in the RFC 3164 form that a program sends to
// the local syslog daemon: "<PRI>Mmm dd hh:mm:ss TAG[PID]: TEXT".
type Message struct {
	Facility int // PRI / 8: 3 is daemon
	Severity int // PRI % 8: 3 is err, 6 is info
	Time     string
	Tag      string
	Pid      int
	Text     string
}

// FacilityDaemon is the facility number of "daemon" (RFC 3164, 4.1.1).
const FacilityDaemon = 3

var form = regexp.MustCompile(`^<(\d+)>([A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d) ([^\[\]: ]+)\[(\d+)\]: (.*?)\n?$`)

// Parse parses one message in the form of Message.
func Parse(raw string) (Message, error) {
	m := form.FindStringSubmatch(raw)
	if m == nil {
		return Message{}, fmt.Errorf("not an RFC 3164 message with a NAME[PID] tag: %q", raw)
	}
	pri, _ := strconv.Atoi(m[1])
	pid, _ := strconv.Atoi(m[4])
	return Message{Facility: pri / 8, Severity: pri % 8, Time: m[2], Tag: m[3], Pid: pid, Text: m[5]}, nil
}
