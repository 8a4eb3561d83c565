package harness

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

// SyslogSink stands in for the syslog daemon: a datagram socket bound at a
// sandbox's -syslog path, whose messages a goroutine collects.
type SyslogSink struct {
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []string
	done chan struct{}
}

// ListenSyslog binds a datagram socket at path and collects what arrives
// there until Close.
func ListenSyslog(path string) (*SyslogSink, error) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("bind the -syslog socket: %w", err)
	}
	s := &SyslogSink{conn: conn, done: make(chan struct{})}
	go s.receive()
	return s, nil
}

func (s *SyslogSink) receive() {
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

func (s *SyslogSink) add(msg string) {
	s.mu.Lock()
	s.msgs = append(s.msgs, strings.TrimRight(msg, "\n\x00"))
	s.mu.Unlock()
}

// Close stops receiving, keeps what is still queued (the server's goodbye
// may have just arrived), and closes the socket.
func (s *SyslogSink) Close() {
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
func (s *SyslogSink) Messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// SyslogMessage is a message in the RFC 3164 form that a program sends to
// the local syslog daemon: "<PRI>Mmm dd hh:mm:ss TAG[PID]: TEXT".
type SyslogMessage struct {
	Facility int // PRI / 8: 3 is daemon
	Severity int // PRI % 8: 3 is err, 6 is info
	Time     string
	Tag      string
	Pid      int
	Text     string
}

// FacilityDaemon is the facility number of "daemon" (RFC 3164, 4.1.1).
const FacilityDaemon = 3

var syslogForm = regexp.MustCompile(`^<(\d+)>([A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d) ([^\[\]: ]+)\[(\d+)\]: (.*?)\n?$`)

// ParseSyslog parses one message in the form of SyslogMessage.
func ParseSyslog(raw string) (SyslogMessage, error) {
	m := syslogForm.FindStringSubmatch(raw)
	if m == nil {
		return SyslogMessage{}, fmt.Errorf("not an RFC 3164 message with a NAME[PID] tag: %q", raw)
	}
	pri, _ := strconv.Atoi(m[1])
	pid, _ := strconv.Atoi(m[4])
	return SyslogMessage{Facility: pri / 8, Severity: pri % 8, Time: m[2], Tag: m[3], Pid: pid, Text: m[5]}, nil
}
