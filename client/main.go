// Command client talks to the echo server: it sends its standard input to
// the server and writes what comes back to its standard output.
//
//	printf 'hi\n' | go run ./client -socket /tmp/unixechoserver.sock
//
// It works with every step of the tutorial, and with any server that
// echoes on a Unix-domain stream socket.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// progName names this program in messages.
var progName = filepath.Base(os.Args[0])

func main() {
	socket := flag.String("socket", "/tmp/unixechoserver.sock", "connect to the Unix-domain socket at `path`")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: %s [-socket path]\n\n", progName)
		fmt.Fprintf(flag.CommandLine.Output(), "Sends standard input to the echo server and writes the echo to standard output.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse() // an unknown flag: the flag package prints the usage and exits 2
	if flag.NArg() > 0 {
		fmt.Fprintf(flag.CommandLine.Output(), "unexpected argument: %s\n", flag.Arg(0))
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*socket); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", progName, err)
		os.Exit(1)
	}
}

// run connects to the server at path, sends it standard input, and copies
// the echo to standard output until the server closes the connection.
func run(path string) error {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return connectError(path, err)
	}
	defer conn.Close()

	// Send and receive at the same time. Sending everything first would
	// stall on a large input: the server echoes as it reads, and once the
	// echo fills the socket's buffer, nobody would read it.
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, os.Stdin)
		// Report before closing the writing side: the server closes only
		// after that, so when the echo ends the result is already here.
		sent <- err
		// Closing the writing side (shutdown(2)) tells the server the input
		// has ended, while the connection stays open for the rest of the
		// echo. conn.Close would throw that away.
		conn.CloseWrite()
	}()

	if _, err := io.Copy(os.Stdout, conn); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	// The server has closed. Normally it did so because the input ended,
	// and sent holds how sending went. If the server closed first, the rest
	// of the input has nowhere to go: stop without waiting for it.
	select {
	case err := <-sent:
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
	default:
	}
	return nil
}

// connectError turns a failed dial into one line that says what to check.
// net.DialUnix says "dial unix PATH: connect: ERROR"; the error number is
// what the user needs.
func connectError(path string, err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	if errno == syscall.ENOENT || errno == syscall.ECONNREFUSED {
		// No socket file, or a file that nobody listens on: a server that
		// is not running, or that was stopped without removing its socket.
		return fmt.Errorf("connect %s: %w (is the server running?)", path, errno)
	}
	return fmt.Errorf("connect %s: %w", path, errno)
}
