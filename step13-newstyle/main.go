// Command echod is a Unix-domain echo server that a service manager runs
// as a daemon: it no longer turns itself into one.
//
// This is step 13 of the tutorial, "the new-style daemon": the server runs
// in the foreground under a service manager, which does what steps 01 to 08
// and 11 did. It may receive its socket from the manager, tells it when it
// is ready and when it stops, and logs to standard error. README.md tells
// the story.
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

// The roles a re-executed copy of this program can play. The server, run
// by the service manager or from a shell, has no role set.
const (
	roleEnv    = "ECHOD_ROLE"
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

	// maxWorkers is how many connections are served at once (-maxworkers).
	maxWorkers int
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

	cfg, err := parseFlags(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2) // the flag package has printed the error and the usage
	case err != nil:
		logError("%v", err)
		os.Exit(2)
	}

	switch role {
	case "":
		err = runServer(cfg)
	default:
		err = fmt.Errorf("unknown role %s=%q", roleEnv, role)
	}
	switch {
	case errors.Is(err, errStartFailed):
		os.Exit(1) // the server has logged the reason
	case err != nil:
		logError("%v", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line into a config and checks it.
func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet(progName, flag.ContinueOnError)
	fs.StringVar(&cfg.socket, "socket", "/tmp/unixechoserver.sock", "listen on the Unix-domain socket at `path`, unless the service manager passes one")
	fs.IntVar(&cfg.maxWorkers, "maxworkers", 64, "serve at most `n` connections at once; more wait to be accepted")
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
	if cfg.maxWorkers < 1 {
		return cfg, fmt.Errorf("-maxworkers %d: must be at least 1", cfg.maxWorkers)
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
	// The server no longer changes to "/" (the manager starts it in its
	// WorkingDirectory=, "/" by default), but messages name the socket:
	// make a relative path absolute, so that they say which one.
	path, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("-socket: %w", err)
	}
	if len(path) > maxSocketPath {
		return "", fmt.Errorf("-socket %q: the path is %d bytes; a Unix socket path holds at most %d", path, len(path), maxSocketPath)
	}
	return path, nil
}
