// Command reexecserver is the least a Go echo server can do that starts a
// process per connection, for the benchmark (go run ./bench) to measure the
// steps against. It has no launcher and makes itself no daemon: it listens
// in the foreground, accepts with accept4(2), and re-executes its own binary
// for each connection, which gets the connection as descriptor 3 and echoes
// it with read(2) and write(2) and a 64 KiB buffer.
//
// It uses golang.org/x/sys/unix rather than net, so that no cgo comes in
// and a plain go build links it statically.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// workerArg is the argument that makes the re-executed binary a worker.
const workerArg = "-worker"

// connFd is the descriptor on which a worker finds its connection.
const connFd = 3

func main() {
	if len(os.Args) == 2 && os.Args[1] == workerArg {
		os.Exit(echo())
	}
	socket := flag.String("socket", "", "listen on the Unix-domain socket at `path`")
	flag.Parse()
	if *socket == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := serve(*socket); err != nil {
		fmt.Fprintf(os.Stderr, "reexecserver: %v\n", err)
		os.Exit(1)
	}
}

// serve listens at path and starts a worker for each connection.
func serve(path string) error {
	ln, err := listen(path)
	if err != nil {
		return err
	}
	go reap()
	for {
		fd, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
			continue
		}
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		_, err = syscall.ForkExec("/proc/self/exe", []string{os.Args[0], workerArg}, &syscall.ProcAttr{
			Env:   os.Environ(),
			Files: []uintptr{0, 1, 2, uintptr(fd)},
		})
		unix.Close(fd)
		if err != nil {
			fmt.Fprintf(os.Stderr, "reexecserver: start worker: %v\n", err)
		}
	}
}

// reap waits for every worker that exits, so that none stays a zombie and
// its CPU time is added to the server's (the bench counts it there).
// Ignoring SIGCHLD would be shorter, but the kernel would then drop the
// workers' times.
func reap() {
	exited := make(chan os.Signal, 1)
	signal.Notify(exited, syscall.SIGCHLD)
	for range exited {
		for {
			pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || pid <= 0 {
				break
			}
		}
	}
}

// listen binds a stream socket at path and listens on it.
func listen(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %s: %w", path, err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen %s: %w", path, err)
	}
	return fd, nil
}

// echo sends back everything that comes on the connection until the
// client closes its writing side.
func echo() int {
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(connFd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 1
		}
		if n == 0 {
			return 0
		}
		for off := 0; off < n; {
			w, err := unix.Write(connFd, buf[off:n])
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return 1
			}
			off += w
		}
	}
}
