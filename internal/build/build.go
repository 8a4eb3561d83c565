// Package build builds a step's program (or a lab's) for the step tests,
// the tour, the labs and the bench, and keeps each binary it builds.
//
// Why a cache of its own, when Go has one: Go's build cache keeps compiled
// packages, but "go build -o" links the program again every time (only "go
// run" and "go tool" keep linked executables, since Go 1.24), and linking
// is most of the half second of CPU one build of a step costs here. Every
// step's test process, the tour's thirteen launches and each lab check
// build the same few unchanged programs again and again, so this package
// keeps the linked binaries, keyed on everything their build reads.
package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"daemon-steps/internal/launch"
	"daemon-steps/internal/reaper"
)

// Step builds the step (or lab) package in dir into the file out.
//
// The step tests, the tour, the labs and the bench build the same few
// programs again and again, and linking one costs about half a second of
// CPU here. So each binary is also kept in the user's cache directory,
// under a name made from everything its build reads: the Go version, the
// settings that change a build (environment and go env file), go.mod,
// go.sum and the package's own .go files (a step is one package that
// imports only the standard library and modules). An unchanged step is not
// built again, a changed one gets an entry of its own, and entries unused
// for a week are removed. out is a hard link to the entry (or, on another
// file system, a copy that cp makes, or else built there by go build):
// never a file that this process holds open for writing, which a process
// forked meanwhile could keep open and make exec fail (ETXTBSY). The go
// command runs with env added to this process's environment.
func Step(ctx context.Context, dir, out string, env ...string) error {
	key, err := buildKey(dir)
	if err != nil {
		return err
	}
	cache, err := os.UserCacheDir()
	if err == nil {
		cache = filepath.Join(cache, "daemon-steps")
		err = os.MkdirAll(cache, 0o755)
	}
	if err != nil {
		return goBuild(ctx, dir, out, env) // no cache to keep it in
	}
	entry := filepath.Join(cache, key)
	if !exists(entry) {
		if err := buildEntry(ctx, dir, cache, entry, env); err != nil {
			return err
		}
	}
	now := time.Now()
	os.Chtimes(entry, now, now) // in use: keep it
	if err := os.Link(filepath.Join(entry, "echod"), out); err == nil {
		return nil
	}
	// Another file system (a /tmp of its own): a copy, made by cp, so that
	// no descriptor of this process is ever open on out for writing.
	cp := exec.CommandContext(ctx, "cp", filepath.Join(entry, "echod"), out)
	if _, err := reaper.CombinedOutput(cp); err == nil {
		return nil
	}
	return goBuild(ctx, dir, out, env)
}

// buildEntry builds the package in dir into the cache entry entry. It builds
// beside it and renames the result into place, so that a process building
// the same entry at the same time, or running its binary, never sees half
// of one.
func buildEntry(ctx context.Context, dir, cache, entry string, env []string) error {
	pruneCache(cache)
	tmp, err := os.MkdirTemp(cache, filepath.Base(entry)+".build")
	if err != nil {
		return fmt.Errorf("cache directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := goBuild(ctx, dir, filepath.Join(tmp, "echod"), env); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, entry); err != nil && !exists(entry) {
		return fmt.Errorf("cache directory: %w", err)
	}
	return nil
}

// goBuild runs "go build -o binary" in dir. When ctx ends, the go command
// gets an interrupt, on which it stops the compilers and linkers it runs.
func goBuild(ctx context.Context, dir, binary string, env []string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", binary, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = launch.CleanupTimeout
	if out, err := reaper.CombinedOutput(cmd); err != nil {
		abs, _ := filepath.Abs(dir)
		return fmt.Errorf("go build ./%s: %v\n%s", filepath.Base(abs), err, bytes.TrimSpace(out))
	}
	return nil
}

// buildKey hashes what a build of the package in dir reads.
func buildKey(dir string) (string, error) {
	files, err := Inputs(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, v := range []string{"CGO_ENABLED", "GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOARCH", "GOOS", "CC"} {
		fmt.Fprintf(h, "%s=%s\n", v, os.Getenv(v))
	}
	// The same settings made with "go env -w" live in the go env file.
	goenv := os.Getenv("GOENV")
	if config, err := os.UserConfigDir(); goenv == "" && err == nil {
		goenv = filepath.Join(config, "go", "env")
	}
	if b, err := os.ReadFile(goenv); err == nil {
		h.Write(b)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("read what the build reads: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// Inputs lists the files that a build of the step package in dir
// reads from the module: go.mod, go.sum if there is one, and the package's
// .go files that are not tests. It refuses a package that imports another
// package of its module, whose files it would miss.
func Inputs(dir string) ([]string, error) {
	mod, err := moduleRoot(dir)
	if err != nil {
		return nil, err
	}
	gomod, err := os.ReadFile(filepath.Join(mod, "go.mod"))
	if err != nil {
		return nil, err
	}
	modPath := modulePath(gomod)
	files := []string{filepath.Join(mod, "go.mod")}
	if sum := filepath.Join(mod, "go.sum"); exists(sum) {
		files = append(files, sum)
	}
	code, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	for _, f := range code {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			return nil, err
		}
		for _, imp := range parsed.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == modPath || strings.HasPrefix(p, modPath+"/") {
				return nil, fmt.Errorf("%s imports %s, a package of its own module: only one-package programs can be built here", f, p)
			}
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		files = append(files, abs)
	}
	return files, nil
}

// moduleRoot returns the directory of the go.mod that dir belongs to.
func moduleRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if exists(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no go.mod above %s", abs)
		}
	}
}

// modulePath returns the path that go.mod's module line names.
func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// pruneCache removes the entries of cache that no build has used for a week.
func pruneCache(cache string) {
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		fi, err := e.Info()
		if err == nil && fi.IsDir() && time.Since(fi.ModTime()) > 7*24*time.Hour {
			os.RemoveAll(filepath.Join(cache, e.Name()))
		}
	}
}

// exists reports whether there is a file (of any type) at path.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
