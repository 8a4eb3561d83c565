// Command syslogd is a stand-in syslog daemon for step 11's README: it
// binds a Unix datagram socket, as a syslog daemon binds /dev/log, and
// prints every datagram it receives as one line, as it arrived (RFC 3164:
// "<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG").
//
//	go run ./demo/syslogd /tmp/s11-syslog.sock
//
// On SIGTERM or SIGINT it removes its socket and exits 0.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"daemon-steps/internal/syslogsink"
)

func main() {
	if len(os.Args) != 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "syslogd: usage: go run ./demo/syslogd SOCKET")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "syslogd:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	// The repository's one stand-in syslog daemon, printing each datagram
	// as it comes.
	sink, err := syslogsink.ListenEach(path, func(msg string) { fmt.Println(msg) })
	if err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	sink.Close()
	return os.Remove(path)
}
