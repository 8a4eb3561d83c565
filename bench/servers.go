package main

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"daemon-steps/internal/harness"
	"daemon-steps/internal/peercred"
	"daemon-steps/internal/reaper"
	"daemon-steps/internal/steps"
)

// Time limits. They bound waits that normally end in milliseconds, so that
// a broken server costs the bench seconds rather than hanging it.
const (
	launchTimeout  = 5 * time.Second  // from starting a server to its first accepted connection
	ioTimeout      = 10 * time.Second // one exchange, or one whole stream
	cleanupTimeout = 5 * time.Second  // killing and reaping what a server leaves
	buildTimeout   = 2 * time.Minute  // one go build or cc
	launchPoll     = 100 * time.Microsecond
	settlePoll     = 5 * time.Millisecond
)

// markerEnv is set in every server's environment to its sandbox directory.
// The servers pass their environment on to what they start, so the bench
// finds every process a server caused by it, and kills them all.
const markerEnv = "ECHOD_BENCH"

// cKey is the server every ratio is taken to.
const cKey = "c"

// reexecKey is the server whose connections/s the goals ask of step 12.
const reexecKey = "reexec"

// cStep12Key is the C companion built for step 12 (c/echod.c, cc
// -DSTEP=12): the same daemon as step 12, forking where Go re-executes.
const cStep12Key = "cstep12"

// defaultServers are the built-in servers, in the table's order.
var defaultServers = []string{cKey, "goroutines", reexecKey, "step01", "step06", "step12", cStep12Key}

// builtinNames are the rows' names.
var builtinNames = map[string]string{
	cKey:         "C fork per connection",
	"goroutines": "Go, goroutine per connection",
	reexecKey:    "Go re-exec, minimal",
	"step01":     "step 01",
	"step06":     "step 06",
	"step12":     "step 12",
	cStep12Key:   "step 12 in C (c/echod.c)",
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
	case cStep12Key:
		cc, err := exec.LookPath("cc")
		if err != nil {
			srv.Skip = "no C compiler (cc) on this machine"
			return srv, nil
		}
		// Named echod, as the tests want it: its log lines carry the name.
		srv.Binary = filepath.Join(dir, "echod")
		srv.Daemon = true
		src := filepath.Join(root, "c", "echod.c")
		if err := command(ctx, root, cc, "-std=c11", "-O2", "-DSTEP=12", "-o", srv.Binary, src); err != nil {
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
// comes from the cache of harness.BuildStep.
func goBuild(ctx context.Context, dir, out, pkg string) error {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	return harness.BuildStep(ctx, filepath.Join(dir, pkg), out)
}

// command runs name in dir and returns its output with the error.
func command(ctx context.Context, dir, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
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
	srv.Flags = make(map[string]bool)
	if !srv.Daemon || srv.Key == cKey {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, launchTimeout)
	defer cancel()
	// The usage goes to standard error, with status 0 for -h.
	out, _ := exec.CommandContext(ctx, srv.Binary, "-h").CombinedOutput()
	for _, f := range []string{"pidfile", "log", "syslog"} {
		srv.Flags[f] = bytes.Contains(out, []byte("-"+f+" "))
	}
	return nil
}

// sandbox is where one launch of a server keeps its files.
type sandbox struct {
	dir    string
	socket string
	marker string // markerEnv=dir, as it appears in the environment
}

func newSandbox(dir string) (sandbox, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sandbox{}, err
	}
	return sandbox{dir: dir, socket: filepath.Join(dir, "s"), marker: markerEnv + "=" + dir}, nil
}

// args is the server's command line for sb: its own socket, and its own
// pid file, log and syslog socket (to which nothing listens, so the log
// goes to the file), never the defaults in /tmp.
func (srv *Server) args(sb sandbox) []string {
	if srv.Key == cKey {
		return []string{srv.Binary, sb.socket}
	}
	args := []string{srv.Binary, "-socket", sb.socket}
	if srv.Flags["pidfile"] {
		args = append(args, "-pidfile", filepath.Join(sb.dir, "pid"))
	}
	if srv.Flags["log"] {
		args = append(args, "-log", filepath.Join(sb.dir, "log"))
	}
	if srv.Flags["syslog"] {
		args = append(args, "-syslog", filepath.Join(sb.dir, "syslog"))
	}
	return args
}

// Running is a server that listens.
type Running struct {
	sb     sandbox
	Pid    int           // the listening process
	Launch time.Duration // from starting the program to the first accepted connection
}

// launch starts srv in sb and waits until it accepts a connection. The
// program is started without os/exec, so that nothing but the bench's
// own reaping waits for it.
func launch(ctx context.Context, srv *Server, sb sandbox) (*Running, error) {
	out, err := os.Create(filepath.Join(sb.dir, "output"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	env := append(cleanEnviron(), sb.marker)
	start := time.Now()
	p, err := os.StartProcess(srv.Binary, srv.args(sb), &os.ProcAttr{Dir: sb.dir, Env: env, Files: []*os.File{null, out, out}})
	if err != nil {
		return nil, err
	}
	pid := p.Pid
	p.Release()
	r := &Running{sb: sb}
	exited := false
	for !accepts(sb.socket) {
		if ws, ok := reaper.Reap(pid); ok {
			exited = true
			if !srv.Daemon || ws.ExitStatus() != 0 {
				return r, fmt.Errorf("%s exited (%s) before it accepted a connection: %s", srv.Name, describeStatus(ws), readOutput(sb))
			}
		}
		if time.Since(start) > launchTimeout || ctx.Err() != nil {
			return r, fmt.Errorf("%s accepted no connection on %s within %v: %s", srv.Name, sb.socket, launchTimeout, readOutput(sb))
		}
		time.Sleep(launchPoll)
	}
	r.Launch = time.Since(start)
	if srv.Daemon && !exited {
		ws, err := reaper.WaitExit(pid, launchTimeout)
		if err != nil {
			return r, fmt.Errorf("%s: launcher %d: %w", srv.Name, pid, err)
		}
		if ws.ExitStatus() != 0 {
			return r, fmt.Errorf("%s: the launcher exited (%s): %s", srv.Name, describeStatus(ws), readOutput(sb))
		}
	}
	if r.Pid, err = peercred.ListenerPid(sb.socket); err != nil {
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
	return reaper.KillMarked(r.sb.marker+"\x00", cleanupTimeout)
}

// readOutput is what the program wrote to its standard output and error,
// for an error message.
func readOutput(sb sandbox) string {
	b, _ := os.ReadFile(filepath.Join(sb.dir, "output"))
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
