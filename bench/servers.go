package main

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"daemon-steps/internal/build"
	"daemon-steps/internal/launch"
	"daemon-steps/internal/peercred"
	"daemon-steps/internal/reaper"
	"daemon-steps/internal/steps"
)

// How often the bench looks for a new server; the time limits are
// internal/launch's.
const launchPoll = 100 * time.Microsecond

// cKey is the server every ratio is taken to.
const cKey = "c"

// reexecKey is the server whose connections/s the goals ask of step 12.
const reexecKey = "reexec"

// defaultServers are the built-in servers, in the table's order.
var defaultServers = []string{cKey, "goroutines", reexecKey, "step01", "step06", "step12"}

// builtinNames are the rows' names.
var builtinNames = map[string]string{
	cKey:         "C fork per connection",
	"goroutines": "Go, goroutine per connection",
	reexecKey:    "Go re-exec, minimal",
	"step01":     "step 01",
	"step06":     "step 06",
	"step12":     "step 12",
}

func isBuiltin(key string) bool {
	_, ok := builtinNames[key]
	return ok
}

// Server is one program to measure, once built.
type Server struct {
	Key    string
	Name   string
	Binary string
	// Daemon is true for a launcher that returns once its server listens;
	// false for a program that is the server itself.
	Daemon bool
	Flags  map[string]bool // the path flags it has: -pidfile, -log, -syslog
	Skip   string          // why it is not measured, if it is not
	Linked string          // "static" or "dynamic"
}

// buildServers builds the servers opt asks for into dir. A server that
// cannot be built here (the C one without a C compiler) is returned with
// Skip set; any other failure is an error.
func buildServers(ctx context.Context, opt Options, dir string, p *progress) ([]*Server, error) {
	var list []*Server
	for _, key := range opt.Servers {
		p.say("build %s", builtinNames[key])
		srv, err := buildBuiltin(ctx, opt.Root, key, filepath.Join(dir, key))
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", builtinNames[key], err)
		}
		list = append(list, srv)
	}
	for i, e := range opt.Extra {
		p.say("build %s", e.Name)
		srv, err := buildExtra(ctx, e, filepath.Join(dir, fmt.Sprintf("extra%d", i)))
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", e.Name, err)
		}
		list = append(list, srv)
	}
	return list, nil
}

// buildBuiltin builds the server key into dir.
func buildBuiltin(ctx context.Context, root, key, dir string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	srv := &Server{Key: key, Name: builtinNames[key]}
	switch key {
	case cKey:
		cc, err := exec.LookPath("cc")
		if err != nil {
			srv.Skip = "no C compiler (cc) on this machine"
			return srv, nil
		}
		srv.Binary = filepath.Join(dir, "forkserver")
		srv.Daemon = true
		src := filepath.Join(root, "bench", "cfork", "forkserver.c")
		if err := command(ctx, root, cc, "-O2", "-o", srv.Binary, src); err != nil {
			return nil, err
		}
	case "goroutines", reexecKey:
		srv.Binary = filepath.Join(dir, key+"server")
		if err := goBuild(ctx, root, srv.Binary, "./bench/"+key+"server"); err != nil {
			return nil, err
		}
	default: // a step
		n := 0
		fmt.Sscanf(key, "step%d", &n)
		step, err := findStep(root, n)
		if err != nil {
			return nil, err
		}
		srv.Binary = filepath.Join(dir, "echod")
		srv.Daemon = true
		if err := goBuild(ctx, root, srv.Binary, "./"+step.Name); err != nil {
			return nil, err
		}
	}
	return srv, describeBinary(ctx, srv)
}

// buildExtra builds, or takes as it is, a server given with -server.
func buildExtra(ctx context.Context, e Extra, dir string) (*Server, error) {
	srv := &Server{Key: e.Name, Name: e.Name, Daemon: true, Binary: e.Path}
	fi, err := os.Stat(e.Path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		srv.Binary = filepath.Join(dir, "echod")
		if err := goBuild(ctx, e.Path, srv.Binary, "."); err != nil {
			return nil, err
		}
	}
	return srv, describeBinary(ctx, srv)
}

// findStep finds step n in the repository at root.
func findStep(root string, n int) (steps.Step, error) {
	list, err := steps.List(root)
	if err != nil {
		return steps.Step{}, err
	}
	for _, s := range list {
		if s.N == n {
			return s, nil
		}
	}
	return steps.Step{}, fmt.Errorf("no step %02d in %s", n, root)
}

// goBuild builds pkg into out with a plain go build, as a reader of the
// tutorial would: the environment is the bench's own, so CGO_ENABLED and
// the rest are whatever the reader has. A package built before, unchanged,
// comes from the cache of build.Step.
func goBuild(ctx context.Context, dir, out, pkg string) error {
	ctx, cancel := context.WithTimeout(ctx, launch.BuildTimeout)
	defer cancel()
	return build.Step(ctx, filepath.Join(dir, pkg), out)
}

// command runs name in dir and returns its output with the error.
func command(ctx context.Context, dir, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, launch.BuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// describeBinary finds which path flags a daemon has, from its usage, and
// whether the binary is linked statically: a dynamically linked one names
// its loader in a PT_INTERP header, and every process it starts pays for
// loading the C library.
func describeBinary(ctx context.Context, srv *Server) error {
	if srv.Binary == "" {
		return nil
	}
	srv.Linked = "static"
	if interpreted, err := hasInterpreter(srv.Binary); err != nil {
		return err
	} else if interpreted {
		srv.Linked = "dynamic"
	}
	srv.Flags = map[string]bool{"socket": true}
	if !srv.Daemon || srv.Key == cKey {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, launch.StartTimeout)
	defer cancel()
	var err error
	srv.Flags, err = launch.ProgramFlags(ctx, srv.Binary, cleanEnviron())
	return err
}

// newSandbox makes dir, where one launch of a server keeps its files.
func newSandbox(dir string) (launch.Paths, error) {
	return launch.NewPaths(dir), os.MkdirAll(dir, 0o755)
}

// args is the server's command line for sb: its own socket, and its own
// pid file, log and syslog socket (to which nothing listens, so the log
// goes to the file), never the defaults in /tmp.
func (srv *Server) args(sb launch.Paths) []string {
	if srv.Key == cKey {
		return []string{srv.Binary, sb.Socket}
	}
	return append([]string{srv.Binary}, sb.Args(srv.Flags)...)
}

// Running is a server that listens.
type Running struct {
	sb     launch.Paths
	Pid    int           // the listening process
	Launch time.Duration // from starting the program to the first accepted connection
}

// startServer starts srv in sb and waits until it accepts a connection. The
// program is started without os/exec, so that nothing but the bench's
// own reaping waits for it.
func startServer(ctx context.Context, srv *Server, sb launch.Paths) (*Running, error) {
	out, err := os.Create(filepath.Join(sb.Dir, "output"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	env := append(cleanEnviron(), launch.MarkerEnv+"="+sb.Dir)
	start := time.Now()
	p, err := os.StartProcess(srv.Binary, srv.args(sb), &os.ProcAttr{Dir: sb.Dir, Env: env, Files: []*os.File{null, out, out}})
	if err != nil {
		return nil, err
	}
	pid := p.Pid
	p.Release()
	r := &Running{sb: sb}
	exited := false
	for !accepts(sb.Socket) {
		if ws, ok := reaper.Reap(pid); ok {
			exited = true
			if !srv.Daemon || ws.ExitStatus() != 0 {
				return r, fmt.Errorf("%s exited (%s) before it accepted a connection: %s", srv.Name, describeStatus(ws), readOutput(sb))
			}
		}
		if time.Since(start) > launch.StartTimeout || ctx.Err() != nil {
			return r, fmt.Errorf("%s accepted no connection on %s within %v: %s", srv.Name, sb.Socket, launch.StartTimeout, readOutput(sb))
		}
		time.Sleep(launchPoll)
	}
	r.Launch = time.Since(start)
	if srv.Daemon && !exited {
		ws, err := reaper.WaitExit(pid, launch.StartTimeout)
		if err != nil {
			return r, fmt.Errorf("%s: launcher %d: %w", srv.Name, pid, err)
		}
		if ws.ExitStatus() != 0 {
			return r, fmt.Errorf("%s: the launcher exited (%s): %s", srv.Name, describeStatus(ws), readOutput(sb))
		}
	}
	if r.Pid, err = peercred.ListenerPid(sb.Socket); err != nil {
		return r, fmt.Errorf("%s: find the listening process: %w", srv.Name, err)
	}
	return r, nil
}

// cleanEnviron is the bench's environment without a role that would make
// a step's binary start as something other than its launcher.
func cleanEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ECHOD_") {
			env = append(env, kv)
		}
	}
	return env
}

// accepts reports whether a connection to the socket at path is accepted
// (or at least queued to be, which is what a client sees).
func accepts(path string) bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrUnix{Name: path}) == nil
}

// stop kills every process of r's sandbox and reaps those that come to the
// bench.
func (r *Running) stop() error {
	return reaper.KillMarked(launch.Marker(r.sb.Dir), launch.CleanupTimeout)
}

// readOutput is what the program wrote to its standard output and error,
// for an error message.
func readOutput(sb launch.Paths) string {
	b, _ := os.ReadFile(filepath.Join(sb.Dir, "output"))
	if s := strings.TrimSpace(string(b)); s != "" {
		return fmt.Sprintf("it said %q", s)
	}
	return "it said nothing"
}

func describeStatus(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("status %d", ws.ExitStatus())
}

// hasInterpreter reports whether the ELF file at path asks for a dynamic
// loader.
func hasInterpreter(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true, nil
		}
	}
	return false, nil
}
