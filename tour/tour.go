package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"daemon-steps/internal/build"
	"daemon-steps/internal/launch"
	"daemon-steps/internal/property"
	"daemon-steps/internal/reaper"
	"daemon-steps/internal/steps"
)

// buildSlots is how many steps link at once: the machine's two cores are
// shared, and each link uses more than one.
const buildSlots = 2

// Options says what to tour.
type Options struct {
	Root  string // the repository; "" finds it from the working directory
	Steps []int  // the steps to tour; nil for all there are
}

// Report is the outcome of a tour: a row for each step.
type Report struct {
	Rows    []Row
	Tour    int // the tour's pid, parent of every server it launched
	Elapsed time.Duration
}

// Row is what the tour found of one step.
type Row struct {
	Step   steps.Step
	Err    error                                   // why the step could not be built or launched; its cells are then not shown
	Skip   string                                  // why the step was not toured here, though nothing failed (no systemd-socket-activate)
	Cells  [len(property.Properties)]property.Cell // column k: property k
	Launch *property.Launch                        // what the launch did and saw; nil if it never started
	Snap   *launch.Snapshot                        // /proc of the server
}

// Title is the step's name without its number: "background".
func (r Row) Title() string {
	_, title, _ := strings.Cut(r.Step.Name, "-")
	return title
}

// Tour builds the steps, launches each in a sandbox of its own, looks at
// what every property shows, stops everything it started and returns what
// it found. When ctx ends it stops early, cleans up all the same, and
// returns ctx's error.
func Tour(ctx context.Context, opt Options) (*Report, error) {
	start := time.Now()
	if err := reaper.BecomeSubreaper(); err != nil {
		return nil, err
	}
	launch.ResetInheritedSignals()
	list, err := chooseSteps(opt)
	if err != nil {
		return nil, err
	}
	runDir, err := os.MkdirTemp("", "tour")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(runDir)

	binaries, buildErrs := buildSteps(ctx, list, runDir)
	rows := make([]Row, len(list))
	var wg sync.WaitGroup
	for i, step := range list {
		dir := filepath.Join(runDir, fmt.Sprintf("%02d", step.N))
		wg.Go(func() { rows[i] = tourStep(ctx, step, dir, binaries[step.N], buildErrs[step.N]) })
	}
	wg.Wait()
	// Each step has stopped its own; this catches what a step that failed
	// half-way may have left, and orphans that came to the tour late.
	leftErr := reaper.KillMarked(launch.MarkerEnv+"="+runDir+"/", launch.CleanupTimeout)
	reaper.Sweep()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if leftErr != nil {
		return nil, leftErr
	}
	return &Report{Rows: rows, Tour: os.Getpid(), Elapsed: time.Since(start)}, nil
}

// chooseSteps lists the repository's steps, or those opt asks for.
func chooseSteps(opt Options) ([]steps.Step, error) {
	root := opt.Root
	if root == "" {
		cwd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if root, err = steps.Root(cwd); err != nil {
			return nil, fmt.Errorf("find the repository: %w", err)
		}
	}
	list, err := steps.List(root)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("no step directories in %s", root)
	}
	if opt.Steps == nil {
		return list, nil
	}
	var chosen []steps.Step
	for _, n := range opt.Steps {
		s, ok := steps.Find(list, n)
		if !ok {
			return nil, fmt.Errorf("there is no step %d: the steps are %02d to %02d", n, list[0].N, list[len(list)-1].N)
		}
		chosen = append(chosen, s)
	}
	return chosen, nil
}

// tourStep builds one step in dir, launches it, exercises and observes it,
// stops it, and checks every property.
func tourStep(ctx context.Context, step steps.Step, dir, built string, buildErr error) Row {
	row := Row{Step: step}
	fail := func(err error) Row {
		row.Err = err
		for i := range row.Cells {
			row.Cells[i] = property.Unshown(err.Error())
		}
		return row
	}
	if buildErr != nil {
		return fail(buildErr)
	}
	// Each step's binary is called echod, so that ps shows the same name
	// in every step.
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fail(err)
	}
	binary := filepath.Join(dir, "echod")
	if err := os.Rename(built, binary); err != nil {
		return fail(err)
	}
	sb, err := launch.Prepare(ctx, step, dir, binary)
	if err != nil {
		return fail(err)
	}
	row.Launch = &property.Launch{Setup: &sb.Setup, Seen: &sb.Seen}
	defer sb.Stop()
	if err := sb.Start(ctx); err != nil {
		sb.Stop()
		if errors.Is(err, launch.ErrNoManager) {
			row = fail(err)
			row.Err, row.Skip = nil, err.Error()
			return row
		}
		return fail(err)
	}
	sb.Exercise(ctx)
	snap, err := sb.Observe()
	if err != nil {
		sb.Stop()
		return fail(err)
	}
	row.Snap = &snap
	sb.Act(ctx)
	if err := sb.Stop(); err != nil {
		sb.Problem("%v", err)
	}
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}
	row.Cells = property.Check(&property.Subject{Snap: snap, Launch: row.Launch})
	return row
}

// buildSteps compiles the steps into dir, at most buildSlots at a time. A step
// that does not compile has an error, the others a binary; a step built
// before, unchanged, comes from the cache (build.Step).
func buildSteps(ctx context.Context, list []steps.Step, dir string) (binaries map[int]string, errs map[int]error) {
	binaries, errs = make(map[int]string), make(map[int]error)
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, buildSlots)
	for _, s := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			binary := filepath.Join(dir, s.Name)
			// Marked, so that a compiler left running by an interrupted
			// build is stopped with the rest.
			err := build.Step(ctx, s.Dir, binary, launch.MarkerEnv+"="+dir+"/build")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case ctx.Err() != nil:
				errs[s.N] = ctx.Err()
			case err != nil:
				errs[s.N] = err
			default:
				binaries[s.N] = binary
			}
		}()
	}
	wg.Wait()
	return binaries, errs
}

// Failed reports whether any step could not be toured.
func (r *Report) Failed() bool {
	for _, row := range r.Rows {
		if row.Err != nil {
			return true
		}
	}
	return false
}
