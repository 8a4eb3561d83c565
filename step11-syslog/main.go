// Command echod is a Unix-domain echo server that turns itself into a
// daemon, one of Comer and Stevens' recommendations at a time.
//
// This is step 11 of the tutorial, "log through syslog": the server logs its
// start, stop and errors to syslog, or to a file. README.md tells the story.
//
// One binary plays every role. Where the C recipe calls fork(), a Go
// program cannot: fork copies only the calling thread, and the Go runtime
// runs on several, so the child would inherit locks held by threads that no
// longer exist. Go offers fork and exec together instead (syscall.ForkExec),
// so this program starts its own binary again, and the environment variable
// ECHOD_ROLE tells the new process which part to play.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The roles a re-executed copy of this program can play. The launcher, run
// from a shell, has no role set.
const (
	roleEnv    = "ECHOD_ROLE"
	roleLeader = "leader" // leads a new session and starts the server
	roleServer = "server" // listens and starts a worker per connection
	roleWorker = "worker" // echoes one connection
)

// maxSocketPath is the longest path a Unix socket address holds: sun_path
// has 108 bytes, and the last must stay free for the terminating NUL.
const maxSocketPath = 107

// errUsage reports a command line that the usage message has answered.
var errUsage = errors.New("usage")

// progName names this program in messages.
var progName = filepath.Base(os.Args[0])

// config holds the command-line flags.
type config struct {
	// socket is where the server listens (-socket).
	socket string

	// pidfile is the file whose lock says that a server runs, and which
	// holds its pid (-pidfile).
	pidfile string
	syslog  string // the syslog daemon's datagram socket (-syslog)
	logfile string // where messages go that syslog cannot take (-log)
}

func main() {
	role := os.Getenv(roleEnv)
	if role != "" {
		// The kernel names a process after the file it executes, and a
		// re-executed one runs /proc/self/exe: "exe". Give it its own name
		// back for ps, pgrep and start-stop-daemon --name. This is best
		// effort: a process named "exe" still works, so an error is ignored.
		_ = os.WriteFile("/proc/self/comm", []byte(progName), 0)
	}
	if role == roleWorker {
		// Every connection starts a worker: keep its path short.
		os.Exit(runWorker())
	}
	// Programs that the daemon starts must not inherit the role.
	os.Unsetenv(roleEnv)

	// The launcher and the server read the same command line: reexec
	// passes os.Args on, so the server checks the flags again rather than
	// being handed the launcher's config. One parser serves both.
	cfg, err := parseFlags(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2) // the flag package has printed the error and the usage
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\n", progName, err)
		os.Exit(2)
	}

	switch role {
	case "":
		err = runLauncher(cfg)
	case roleLeader:
		err = runSessionLeader()
	case roleServer:
		err = runServer(cfg)
	default:
		err = fmt.Errorf("unknown role %s=%q", roleEnv, role)
	}
	switch {
	case errors.Is(err, errStartFailed):
		os.Exit(1) // the launcher prints the reason
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\n", progName, err)
		os.Exit(1)
	}
}

// parseFlags reads the command line into a config and checks it.
func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet(progName, flag.ContinueOnError)
	fs.StringVar(&cfg.socket, "socket", "/tmp/unixechoserver.sock", "listen on the Unix-domain socket at `path`")
	fs.StringVar(&cfg.pidfile, "pidfile", "/tmp/unixechoserver.pid", "lock the file at `path`, so that only one copy runs, and write the pid there")
	fs.StringVar(&cfg.syslog, "syslog", "/dev/log", "send log messages to the syslog daemon's socket at `path`")
	fs.StringVar(&cfg.logfile, "log", "/tmp/unixechoserver.log", "append log messages to the file at `path` when syslog cannot take them")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument: %q\n", fs.Arg(0))
		fs.Usage()
		return cfg, errUsage
	}
	var err error
	if cfg.socket, err = socketPath(cfg.socket); err != nil {
		return cfg, err
	}
	if cfg.pidfile, err = filepath.Abs(cfg.pidfile); err != nil {
		return cfg, fmt.Errorf("-pidfile: %w", err)
	}
	if cfg.syslog, err = filepath.Abs(cfg.syslog); err != nil {
		return cfg, fmt.Errorf("-syslog: %w", err)
	}
	if cfg.logfile, err = filepath.Abs(cfg.logfile); err != nil {
		return cfg, fmt.Errorf("-log: %w", err)
	}
	return cfg, nil
}

// socketPath checks the -socket flag and returns the path the server binds.
func socketPath(path string) (string, error) {
	switch {
	case path == "":
		return "", errors.New("-socket: empty path")
	case strings.HasPrefix(path, "@"):
		// Go would bind "@name" in Linux's abstract namespace, where sockets
		// have no file and so no permissions: any local user could connect.
		return "", fmt.Errorf("-socket %q: abstract socket names (a leading @) are not supported", path)
	case strings.ContainsRune(path, 0):
		return "", fmt.Errorf("-socket %q: a path cannot hold a NUL byte", path)
	}
	// The server changes to "/" (recommendation 4): make a relative path
	// absolute now, while it still means what the user meant.
	path, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("-socket: %w", err)
	}
	if len(path) > maxSocketPath {
		return "", fmt.Errorf("-socket %q: the path is %d bytes; a Unix socket path holds at most %d", path, len(path), maxSocketPath)
	}
	return path, nil
}
