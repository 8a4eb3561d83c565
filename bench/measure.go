package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"daemon-steps/internal/launch"
	"daemon-steps/internal/proc"
	"daemon-steps/internal/reaper"
	"daemon-steps/internal/steps"
)

// Sizes of what the client sends.
const (
	smallMessage = 64       // bytes in a round trip, and in a connection's one echo
	chunk        = 64 << 10 // bytes per write when streaming
)

// Result is what one server measured.
type Result struct {
	Server *Server
	Err    error // the measurement that failed, if one did

	Launch       time.Duration // median
	LaunchCPU    time.Duration // CPU time of the launch's processes, median
	RTT50, RTT99 time.Duration
	MBps         float64 // 10^6 bytes a second, echoed
	Conns1       float64 // connections a second, one dialer
	Conns8       float64 // and eight
	CPUPerConn   time.Duration
	PSSPerConn   float64 // KiB
}

// Report is a whole run.
type Report struct {
	Results []*Result
	Options Options
	Elapsed time.Duration
	System  string // the machine: CPUs, kernel, Go
}

// Run builds the servers, measures each in turn, stops everything it
// started, and returns what it measured. A server whose measurement fails
// keeps its error in its Result; the others go on.
func Run(ctx context.Context, opt Options, p *progress) (*Report, error) {
	start := time.Now()
	defer p.done()
	if err := reaper.BecomeSubreaper(); err != nil {
		return nil, err
	}
	launch.ResetInheritedSignals()
	if opt.Root == "" {
		cwd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if opt.Root, err = steps.Root(cwd); err != nil {
			return nil, fmt.Errorf("find the repository: %w", err)
		}
	}
	dir := opt.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "bench"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	report, err := measureAll(ctx, opt, dir, p)
	// Whatever happened, every process of every sandbox goes.
	leftErr := reaper.KillMarked(launch.MarkerEnv+"="+dir+"/", launch.CleanupTimeout)
	reaper.Sweep()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err = errors.Join(err, leftErr); err != nil {
		return nil, err
	}
	report.Elapsed = time.Since(start)
	return report, nil
}

// measureAll builds the servers and measures each in turn.
func measureAll(ctx context.Context, opt Options, dir string, p *progress) (*Report, error) {
	servers, err := buildServers(ctx, opt, filepath.Join(dir, "bin"), p)
	if err != nil {
		return nil, err
	}
	report := &Report{Options: opt, System: describeSystem()}
	// The servers take turns, round after round, so that a load that
	// comes and goes on a shared machine falls on all of them alike; each
	// number shown is the median of the rounds.
	rounds := make([][]*Result, len(servers))
	for round := range opt.Rounds {
		for i, srv := range servers {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			res := &Result{Server: srv}
			if srv.Skip == "" && !failed(rounds[i]) {
				p.server = fmt.Sprintf("round %d/%d, [%d/%d] %s", round+1, opt.Rounds, i+1, len(servers), srv.Name)
				sandboxes := filepath.Join(dir, fmt.Sprintf("%02d", i), fmt.Sprintf("r%d", round))
				res.Err = measure(ctx, opt, srv, sandboxes, res, p)
			}
			rounds[i] = append(rounds[i], res)
		}
	}
	for _, results := range rounds {
		report.Results = append(report.Results, medianResult(results))
	}
	return report, nil
}

// failed reports whether a round of the server has failed: it is measured
// no more.
func failed(results []*Result) bool {
	for _, r := range results {
		if r.Err != nil {
			return true
		}
	}
	return false
}

// medianResult is the median of each measurement over the rounds, or the
// first failure.
func medianResult(results []*Result) *Result {
	m := &Result{Server: results[0].Server}
	for _, r := range results {
		if r.Err != nil {
			m.Err = r.Err
			return m
		}
	}
	dur := func(f func(*Result) time.Duration) time.Duration {
		var d []time.Duration
		for _, r := range results {
			d = append(d, f(r))
		}
		return median(d)
	}
	num := func(f func(*Result) float64) float64 {
		var v []float64
		for _, r := range results {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	m.Launch = dur(func(r *Result) time.Duration { return r.Launch })
	m.LaunchCPU = dur(func(r *Result) time.Duration { return r.LaunchCPU })
	m.RTT50 = dur(func(r *Result) time.Duration { return r.RTT50 })
	m.RTT99 = dur(func(r *Result) time.Duration { return r.RTT99 })
	m.CPUPerConn = dur(func(r *Result) time.Duration { return r.CPUPerConn })
	m.MBps = num(func(r *Result) float64 { return r.MBps })
	m.Conns1 = num(func(r *Result) float64 { return r.Conns1 })
	m.Conns8 = num(func(r *Result) float64 { return r.Conns8 })
	m.PSSPerConn = num(func(r *Result) float64 { return r.PSSPerConn })
	return m
}

// measure takes every measurement of srv into res.
func measure(ctx context.Context, opt Options, srv *Server, dir string, res *Result, p *progress) error {
	p.say("launch, %d times", opt.Launches)
	var launches, launchCPU []time.Duration
	for i := range opt.Launches {
		sb, err := newSandbox(filepath.Join(dir, fmt.Sprintf("launch%d", i)))
		if err != nil {
			return err
		}
		before := reapedCPU()
		r, err := startServer(ctx, srv, sb)
		if err == nil {
			// The worker of the connection that found the server ends
			// by itself, as in measureDialing.
			waitWorkersGone(r.Pid)
		}
		err = errors.Join(err, r.stop())
		if err != nil {
			return err
		}
		launches = append(launches, r.Launch)
		launchCPU = append(launchCPU, reapedCPU()-before)
	}
	res.Launch = median(launches)
	res.LaunchCPU = median(launchCPU)

	if err := measureOpen(ctx, opt, srv, filepath.Join(dir, "run"), res, p); err != nil {
		return err
	}
	return measureDialing(ctx, opt, srv, filepath.Join(dir, "dial"), res, p)
}

// measureOpen measures, on one server, what an open connection costs: the
// memory of idle ones, round trips and streaming.
func measureOpen(ctx context.Context, opt Options, srv *Server, dir string, res *Result, p *progress) error {
	sb, err := newSandbox(dir)
	if err != nil {
		return err
	}
	r, err := startServer(ctx, srv, sb)
	if err != nil {
		return errors.Join(err, r.stop())
	}
	defer r.stop()
	// The connections that found the server started workers too.
	waitWorkersGone(r.Pid)

	// Memory first, while the server is fresh and has no zombies.
	p.say("PSS with %d idle connections", opt.Idle)
	if res.PSSPerConn, err = pssPerIdleConnection(r, opt.Idle); err != nil {
		return fmt.Errorf("PSS: %w", err)
	}
	p.say("round trips")
	if res.RTT50, res.RTT99, err = roundTrips(ctx, r.sb.Socket, opt.RoundTrips); err != nil {
		return fmt.Errorf("round trips: %w", err)
	}
	p.say("MB/s")
	if res.MBps, err = stream(r.sb.Socket, opt.Stream); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	return nil
}

// measureDialing measures connections/s on a server of its own, and the
// CPU time per connection: what the server's whole process tree used, from
// its launch until the bench has reaped every process of it, less what a
// launch alone used (res.LaunchCPU), per connection.
//
// The CPU time is read from the bench's own reaped children
// (getrusage(RUSAGE_CHILDREN)), not from /proc/PID/stat, which counts in
// clock ticks: a worker that runs for a few milliseconds shows almost none
// of its time there, alive or a zombie, and the steps before step 12
// leave their workers as zombies. Reaping hands a process's exact time,
// with that of the children it reaped, to its reaper; the bench is a
// subreaper and reaps the server and its orphaned workers last.
func measureDialing(ctx context.Context, opt Options, srv *Server, dir string, res *Result, p *progress) error {
	sb, err := newSandbox(dir)
	if err != nil {
		return err
	}
	before := reapedCPU()
	r, err := startServer(ctx, srv, sb)
	if err != nil {
		return errors.Join(err, r.stop())
	}
	p.say("connections/s, 1 dialer")
	n1, err := connections(r.sb.Socket, 1, opt.Dialing)
	if err != nil {
		return errors.Join(fmt.Errorf("connections/s, 1 dialer: %w", err), r.stop())
	}
	p.say("connections/s, 8 dialers")
	n8, err := connections(r.sb.Socket, 8, opt.Dialing)
	if err != nil {
		return errors.Join(fmt.Errorf("connections/s, 8 dialers: %w", err), r.stop())
	}
	res.Conns1 = float64(n1) / opt.Dialing.Seconds()
	res.Conns8 = float64(n8) / opt.Dialing.Seconds()
	// A worker still echoing would be killed before it has used its time.
	waitWorkersGone(r.Pid)
	if err := r.stop(); err != nil {
		return err
	}
	res.CPUPerConn = (reapedCPU() - before - res.LaunchCPU) / time.Duration(n1+n8)
	return nil
}

// reapedCPU is the user and system time of every child the bench has
// reaped so far, with the children they reaped.
func reapedCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0 // Linux fails RUSAGE_CHILDREN only for a bad pointer
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pssPerIdleConnection opens n connections, echoes 64 bytes on each, so
// that each has reached its echo loop, and returns how much the
// proportional set size of the server's process tree grew per connection.
// PSS shares each page among the processes that map it, so the pages of a
// binary that the server and its workers share count once in the sum.
func pssPerIdleConnection(r *Running, n int) (float64, error) {
	idle, err := treePSS(r.Pid)
	if err != nil {
		return 0, err
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	msg := make([]byte, smallMessage)
	for range n {
		c, err := net.Dial("unix", r.sb.Socket)
		if err != nil {
			return 0, err
		}
		conns = append(conns, c)
		if err := echoOnce(c, msg); err != nil {
			return 0, err
		}
	}
	held, err := treePSS(r.Pid)
	if err != nil {
		return 0, err
	}
	return float64(held-idle) / float64(n), nil
}

// echoOnce sends msg on c and reads it back.
func echoOnce(c net.Conn, msg []byte) error {
	c.SetDeadline(time.Now().Add(launch.IOTimeout))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	back := make([]byte, len(msg))
	if _, err := io.ReadFull(c, back); err != nil {
		return fmt.Errorf("read the echo: %w", err)
	}
	return nil
}

// roundTrips times n round trips of 64 bytes on one connection, after a
// few untimed ones, and returns the median and the 99th percentile. It
// stops early after launch.IOTimeout.
func roundTrips(ctx context.Context, socket string, n int) (p50, p99 time.Duration, err error) {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * launch.IOTimeout))
	msg := make([]byte, smallMessage)
	back := make([]byte, smallMessage)
	const warmup = 20
	var times []time.Duration
	limit := time.Now().Add(launch.IOTimeout)
	for i := 0; i < warmup+n && time.Now().Before(limit) && ctx.Err() == nil; i++ {
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			return 0, 0, err
		}
		if _, err := io.ReadFull(c, back); err != nil {
			return 0, 0, err
		}
		if i >= warmup {
			times = append(times, time.Since(start))
		}
	}
	if len(times) == 0 {
		return 0, 0, errors.New("no round trip completed")
	}
	slices.Sort(times)
	return percentile(times, 50), percentile(times, 99), nil
}

// stream writes 64 KiB chunks on one connection for d while it reads the
// echo, then closes its writing side and reads the rest, and returns the
// rate of bytes echoed, in 10^6 bytes a second.
func stream(socket string, d time.Duration) (float64, error) {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	uc := c.(*net.UnixConn)
	uc.SetDeadline(time.Now().Add(d + launch.IOTimeout))
	start := time.Now()
	wrote := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		for time.Since(start) < d {
			if _, err := uc.Write(buf); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- uc.CloseWrite()
	}()
	buf := make([]byte, chunk)
	var got int64
	for {
		n, err := uc.Read(buf)
		got += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	elapsed := time.Since(start)
	if err := <-wrote; err != nil {
		return 0, err
	}
	return float64(got) / elapsed.Seconds() / 1e6, nil
}

// connections runs dialers that each connect, echo 64 bytes and close, over
// and over for d, and returns how many connections they completed.
func connections(socket string, dialers int, d time.Duration) (int, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		errs  []error
	)
	deadline := time.Now().Add(d)
	for range dialers {
		wg.Go(func() {
			n, err := dial(socket, deadline)
			mu.Lock()
			defer mu.Unlock()
			total += n
			errs = append(errs, err)
		})
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

// dial makes connections until deadline, and returns how many.
func dial(socket string, deadline time.Time) (int, error) {
	msg := make([]byte, smallMessage)
	n := 0
	for time.Now().Before(deadline) {
		c, err := net.Dial("unix", socket)
		if err != nil {
			return n, err
		}
		err = echoOnce(c, msg)
		c.Close()
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// tree returns pid and its descendants, zombies included.
func tree(pid int) ([]proc.Stat, error) {
	all, err := proc.All()
	if err != nil {
		return nil, err
	}
	in := map[int]bool{pid: true}
	var list []proc.Stat
	for grew := true; grew; {
		grew = false
		for _, st := range all {
			if !in[st.Pid] && in[st.PPid] {
				in[st.Pid] = true
				grew = true
			}
		}
	}
	for _, st := range all {
		if in[st.Pid] {
			list = append(list, st)
		}
	}
	return list, nil
}

// treePSS sums the proportional set size of pid's process tree, in KiB.
// Zombies hold no memory, and have no smaps_rollup to read.
func treePSS(pid int) (int, error) {
	list, err := tree(pid)
	if err != nil {
		return 0, err
	}
	sum := 0
	for _, st := range list {
		if st.State == 'Z' {
			continue
		}
		kib, err := pss(st.Pid)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // it exited meanwhile
		}
		if err != nil {
			return 0, err
		}
		sum += kib
	}
	return sum, nil
}

// pss reads the Pss line of /proc/PID/smaps_rollup, in KiB.
func pss(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return 0, fmt.Errorf("/proc/%d/smaps_rollup: no Pss line", pid)
}

// waitWorkersGone waits, for a bounded time, until every worker of pid has
// exited, so that its CPU time can be counted.
func waitWorkersGone(pid int) {
	launch.WaitUntil(context.Background(), launch.CleanupTimeout, func() bool {
		kids, _ := proc.Children(pid)
		return !slices.ContainsFunc(kids, func(k proc.Stat) bool { return k.State != 'Z' })
	})
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// percentile returns the p-th percentile of sorted, by the nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

// describeSystem names what the numbers depend on.
func describeSystem() string {
	kernel := "Linux"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel += " " + strings.TrimSpace(string(b))
	}
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":")) + ", "
				break
			}
		}
	}
	return fmt.Sprintf("%s%d CPUs, %s, %s", model, runtime.NumCPU(), kernel, runtime.Version())
}
