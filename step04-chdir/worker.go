package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// connFd is the descriptor on which a worker finds its connection.
const connFd = 3

// echoBuffer is how much a worker reads and writes back at a time.
const echoBuffer = 64 << 10

// startWorker re-executes this program as a worker that echoes the
// connection conn: where the C server forks a child per connection. The
// worker gets the connection as descriptor 3; the listening socket, like
// every descriptor this program opens, is close-on-exec and stays behind.
func startWorker(conn int) error {
	_, err := reexec(roleWorker, []uintptr{0, 1, 2, uintptr(conn)}, nil)
	return err
}

// runWorker echoes the connection on descriptor 3, then closes it.
func runWorker() int {
	if err := echo(connFd); err != nil {
		fmt.Fprintf(os.Stderr, "%s: echo: %v\n", progName, err)
		return 1
	}
	if err := unix.Close(connFd); err != nil {
		fmt.Fprintf(os.Stderr, "%s: echo: close: %v\n", progName, err)
		return 1
	}
	return 0
}

// echo sends back every byte it reads from fd until the client has closed
// its writing side (a read of 0 bytes), with the C server's read()/write()
// loop on the descriptor itself. Its buffer is memory that every idle
// worker holds; PERFORMANCE.md weighs its size against io.Copy's.
func echo(fd int) error {
	buf := make([]byte, echoBuffer)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("read: %w", err)
		case n == 0:
			return nil
		}
		if err := writeAll(fd, buf[:n]); err != nil {
			return err
		}
	}
}

// writeAll writes all of b to fd: a write to a socket may take only part.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		b = b[n:]
	}
	return nil
}
