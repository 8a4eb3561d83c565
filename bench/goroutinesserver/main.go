// Command goroutinesserver is the ordinary Go echo server, one goroutine
// per connection in one process, for the benchmark (go run ./bench) to
// show what the process per connection costs. It listens in the
// foreground.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	socket := flag.String("socket", "", "listen on the Unix-domain socket at `path`")
	flag.Parse()
	if *socket == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ln, err := net.Listen("unix", *socket)
	if err != nil {
		fmt.Fprintf(os.Stderr, "goroutinesserver: %v\n", err)
		os.Exit(1)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "goroutinesserver: accept: %v\n", err)
			os.Exit(1)
		}
		go echo(conn)
	}
}

// echo sends back everything that comes on conn until the client closes
// its writing side.
func echo(conn net.Conn) {
	defer conn.Close()
	io.Copy(conn, conn)
}
