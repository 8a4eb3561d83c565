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

// labReadme writes the student's README.md for lab l.
func labReadme(l *lab) (string, error) {
	in := info[l.step.N]
	recommend, why := in.Recommend, in.Why
	b, err := os.ReadFile(filepath.Join(l.step.Dir, "README.md"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if r, w := readmeSections(string(b)); r != "" || w != "" {
		recommend, why = r, w
	}
	title := in.Title
	if t := readmeTitle(string(b)); t != "" {
		title = t
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
	p("When you are done, the server %s.\n\n", in.Server)
	p("You can see it through: %s.\n\n", in.SeenBy)
	p("The code as it is %s.\n\n", in.Before)

	p("## What the tests check\n\n")
	p("The tests are in %s. They build the program in this directory, start it as a shell would, and look at the server through /proc. "+
		"These are the ones this lab adds, which fail on the code as it is:\n\n", quoteList(l.testFiles))
	for _, t := range l.newTests {
		if t.Doc != "" {
			p("- `%s`: %s\n", t.Name, t.Doc)
		} else {
			p("- `%s`\n", t.Name)
		}
	}
	p("\nThe other %d tests check the echo service, the command line and what %s. "+
		"They pass now, and they must still pass when you are done. Change the program, not the tests.\n\n", len(l.oldTests), earlier+" taught")

	p("## How to run them\n\n")
	p("You need Go, and nothing else. In this directory:\n\n")
	p("    go test ./...                  # every test; ok when all pass\n")
	if len(l.newTests) > 0 {
		p("    go test -run %s -v ./...\n", l.newTests[0].Name)
		p("                                   # one test, with the transcript it logs\n")
	}
	p("    go test -json ./...            # the same, for a program to read\n\n")
	p("`-run` takes a regular expression: `-run 'TestA|TestB'` runs two tests. " +
		"A test that fails prints what it did and what it saw, step by step: read it from the top.\n\n")
	p("To try the server by hand:\n\n")
	p("    go build -o echod . && ./echod -socket /tmp/lab.sock\n")
	p("    printf 'hello\\n' | socat - UNIX-CONNECT:/tmp/lab.sock     # or: nc -U /tmp/lab.sock\n")
	p("    kill PID                       # the pid the launcher printed\n\n")
	p("`./echod -h` lists the flags.\n\n")

	p("## Hints\n\n")
	for _, h := range in.Hints {
		p("- %s\n", h)
	}
	p("- `man 5 proc` describes every file under /proc, `man 2 NAME` a system call, and `go doc golang.org/x/sys/unix NAME` its Go wrapper.\n\n")

	p("## The files\n\n")
	p("- %s: the server, yours to change.\n", quoteList(l.codeFiles))
	p("- %s: the tests.\n", quoteList(l.testFiles))
	if len(l.packages) > 0 {
		p("- %s: what the tests share: building and launching the program, reading /proc, "+
			"and making sure that no test leaves a process behind.\n", quoteList(l.packages))
	}
	return out.String(), nil
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
