package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// readmeSections returns the parts of a step's README.md that a lab may
// show: the body of its section on what Comer and Stevens recommend and of
// its section on why. The sections on how Go does it, the tests, trying it
// by hand and the diff would give the solution away, and are left out.
// Either is "" when the README has no such section.
func readmeSections(readme string) (recommend, why string) {
	var heading string
	var body strings.Builder
	flush := func() {
		h := strings.ToLower(heading)
		text := strings.TrimSpace(body.String())
		switch {
		case strings.Contains(h, " go ") || strings.HasSuffix(h, " go") || strings.Contains(h, "go does"):
			// "How Go does it" may answer "why" as well: never show it.
		case recommend == "" && strings.Contains(h, "recommend"):
			recommend = text
		case why == "" && strings.HasPrefix(h, "why"):
			why = text
		}
		body.Reset()
	}
	inFence := false
	for _, line := range strings.SplitAfter(readme, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(line, "#") {
			flush()
			heading = strings.TrimSpace(strings.TrimLeft(trimmed, "#"))
			continue
		}
		body.WriteString(line)
	}
	flush()
	return unlink(recommend), unlink(why)
}

// readmeTitle returns the title of a step's README, "Close inherited
// descriptors" from "# Step 02: Close inherited descriptors", or "".
func readmeTitle(readme string) string {
	first, _, _ := strings.Cut(readme, "\n")
	title, ok := strings.CutPrefix(first, "# ")
	if !ok {
		return ""
	}
	if _, rest, ok := strings.Cut(title, ": "); ok && strings.HasPrefix(strings.ToLower(title), "step") {
		title = rest
	}
	return strings.TrimSpace(title)
}

// relativeLink matches a Markdown link whose target is a path in the
// repository rather than an address.
var relativeLink = regexp.MustCompile(`\[([^\]]+)\]\(([^):]*)\)`)

// unlink replaces links into the repository, which a lab does not hold,
// with their text.
func unlink(text string) string {
	return relativeLink.ReplaceAllString(text, "$1")
}

// labReadme writes the student's README.md for lab l: the step's title,
// recommendation and why from its README.md; what the server must do from
// its row of PROPERTIES.md and the flags its code defines; and every
// requirement the tests check, from each test's doc comment, so that the
// README and the tests cannot drift apart.
func labReadme(l *lab) (string, error) {
	b, err := os.ReadFile(filepath.Join(l.step.Dir, "README.md"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	recommend, why := readmeSections(string(b))
	title := readmeTitle(string(b))
	if title == "" {
		title = l.step.Name
	}
	props, err := stepProperties(l.root, l.step.N)
	if err != nil {
		return "", err
	}
	flags, err := stepFlags(l.step.Dir)
	if err != nil {
		return "", err
	}
	had, err := stepFlags(l.prev.Dir)
	if err != nil {
		return "", err
	}

	var out strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&out, format, args...) }
	// Paragraphs are single lines: Markdown wraps them, and lines that hold
	// names of varying length would wrap raggedly anyway.
	p("# Lab %02d: %s\n\n", l.step.N, title)
	earlier, teach := "step 01", "teaches"
	if l.prev.N > 1 {
		earlier, teach = fmt.Sprintf("steps 01 to %02d", l.prev.N), "teach"
	}
	p("This lab is step %02d of a tutorial that turns a small Unix-domain echo server into a well-behaved Unix daemon, "+
		"one of Comer and Stevens' recommendations at a time. The code here is the tutorial's step %02d: "+
		"it already does what %s %s. Your task is to make it do one thing more.\n\n", l.step.N, l.prev.N, earlier, teach)

	if recommend != "" {
		p("## What Comer and Stevens recommend\n\n%s\n\n", recommend)
	}
	if why != "" {
		p("## Why\n\n%s\n\n", why)
	}

	p("## What your server must do\n\n")
	p("When you are done, the server %s.\n\n", strings.TrimSuffix(props[0].Server, "."))
	for _, more := range props[1:] {
		p("It also %s.\n\n", strings.TrimSuffix(more.Server, "."))
	}
	p("You can see it through: %s.\n\n", props[0].SeenBy)
	p("The code as it is %s.\n\n", strings.TrimSuffix(props[0].Before, "."))
	writeFlags(p, flags, had)

	p("## What the tests require\n\n")
	p("The tests are in %s. They build the program in this directory, start it as a shell would, and look at the server through /proc. "+
		"Each line below is a test's name and what it requires, word for word from the test's own comment.\n\n", quoteList(l.testFiles))
	p("These %d tests are the ones this lab adds. They fail on the code as it is:\n\n", len(l.newTests))
	for _, t := range l.newTests {
		p("- `%s`: %s\n", t.Name, t.Doc)
	}
	p("\nThese %d check the echo service, the command line and what %s taught. "+
		"They pass now, and they must still pass when you are done. Change the program, not the tests.\n\n", len(l.oldTests), earlier)
	for _, t := range l.oldTests {
		p("- `%s`: %s\n", t.Name, t.Doc)
	}
	p("\n")

	p("## How to run them, and read a failure\n\n")
	p("You need Go, and nothing else. In this directory:\n\n")
	p("    go test ./...                  # every test; ok when all pass\n")
	if len(l.newTests) > 0 {
		p("    go test -run %s -v ./...\n", l.newTests[0].Name)
		p("                                   # one test, with the transcript it logs\n")
	}
	p("    go test -json ./...            # the same, for a program to read\n\n")
	p("`-run` takes a regular expression: `-run 'TestA|TestB'` runs two tests. " +
		"You need no `-count=1`: the tests read every source file of the program, so Go runs them again whenever you change one, and prints `(cached)` only when nothing changed.\n\n")
	p("A failing test prints a block like this one:\n\n")
	p("    --- FAIL: TestName (0.05s)\n")
	p("        step_test.go:123:\n")
	p("            Error:      Not equal: expected: 0  actual: 1\n")
	p("            Messages:   what was checked, in words: what was expected, what was seen (the pid, the /proc line, the mode) ...\n\n")
	p("Read `Messages:` first: it says what the server should do and what it did. `Error:` gives the raw values, " +
		"and the lines the test logged above it (with `-v`, or when it fails) show the few steps it took: the launch, the server's pid, the /proc lines it read. " +
		"The test named in `--- FAIL` is listed above with its requirement; when it has subtests, their names (after the `/`) say which case failed. " +
		"A test that fails because the launcher failed shows the launcher's exit status and standard error first: fix that before anything else.\n\n")
	p("To try the server by hand (the client is the tutorial's, in ./client):\n\n")
	if l.newStyle() {
		p("    go build -o echod . && ./echod -socket /tmp/lab.sock &   # it stays in the foreground\n")
		p("    printf 'hello\\n' | go run ./client -socket /tmp/lab.sock\n")
		p("    kill %%1\n\n")
	} else {
		p("    go build -o echod . && ./echod -socket /tmp/lab.sock\n")
		p("    printf 'hello\\n' | go run ./client -socket /tmp/lab.sock\n")
		p("    kill PID                       # the pid the launcher printed\n\n")
	}
	p("`./echod -h` lists the flags.\n\n")

	p("## Hints\n\n")
	for _, h := range info[l.step.N].Hints {
		p("- %s\n", h)
	}
	p("- `man 5 proc` describes every file under /proc, `man 2 NAME` a system call, and `go doc golang.org/x/sys/unix NAME` its Go wrapper.\n\n")

	section, err := labMistakes(l)
	if err != nil {
		return "", err
	}
	p("%s", section)

	p("## The files\n\n")
	p("- %s: the server, yours to change.\n", quoteList(l.codeFiles))
	p("- %s: the tests.\n", quoteList(l.testFiles))
	if len(l.packages) > 0 {
		p("- %s: what the tests share: building and launching the program, reading /proc, "+
			"and making sure that no test leaves a process behind.\n", quoteList(l.packages))
	}
	return out.String(), nil
}

// writeFlags writes the command line that the solution takes: the flags
// of step N's code, with their defaults, and which of them the starting
// code lacks. The tests pass each flag only when the program's -h lists it.
func writeFlags(p func(string, ...any), flags, had []progFlag) {
	if len(flags) == 0 {
		return
	}
	old := make(map[string]bool)
	for _, f := range had {
		old[f.Name] = true
	}
	p("The command line, when you are done (the tests give each flag a path of their own, when `./echod -h` lists it):\n\n")
	for _, f := range flags {
		arg := ""
		if f.Arg != "" {
			arg = " " + f.Arg
		}
		isNew := ""
		if !old[f.Name] {
			isNew = " **New in this lab: add it.**"
		}
		p("- `-%s%s` (default `%s`): %s.%s\n", f.Name, arg, f.Default, f.Usage, isNew)
	}
	p("\n")
}

// quoteList formats names as `a`, `b` and `c`.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}
