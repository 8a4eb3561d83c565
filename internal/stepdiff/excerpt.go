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

// An excerpt is a piece of a source file that a Markdown file quotes: a line
//
//	[embedmd]:# (launcher.go go /^func runLauncher/ /^}/)
//
// followed at once by a fenced code block. The line is embedmd's
// (github.com/campoy/embedmd), and Markdown shows nothing of it: it names
// the file, relative to the Markdown file's directory, the code block's
// language, and two regular expressions. The block holds the lines of the
// file from the first line that START matches to the first line after it
// that END matches, both included; with no expressions, the whole file.
// The expressions match within a line (^ and $ are a line's start and
// end).
//
// stepdiff writes every excerpt from its file, and with -check fails on one
// that is not what the file holds now: the code a README walks through is
// the code that runs.
type excerpt struct {
	line       int // the directive's line number, from 1
	file, lang string
	start, end *regexp.Regexp
}

// directive is embedmd's comment line.
var directive = regexp.MustCompile(`^\[embedmd\]:# \((\S+) (\S+)(?: /(.*?)/ /(.*?)/)?\)\s*$`)

// withExcerpts returns the Markdown text md, read from a file in dir, with
// every excerpt's code block written anew from its source file, and how
// many excerpts it holds.
func withExcerpts(md, dir string) (string, int, error) {
	lines := strings.SplitAfter(md, "\n")
	var out strings.Builder
	var errs []error
	count := 0
	for i := 0; i < len(lines); i++ {
		out.WriteString(lines[i])
		m := directive.FindStringSubmatch(strings.TrimRight(lines[i], "\n"))
		if m == nil {
			continue
		}
		count++
		ex := excerpt{line: i + 1, file: m[1], lang: m[2]}
		var err error
		if m[3] != "" || m[4] != "" {
			if ex.start, err = regexp.Compile("(?m)" + m[3]); err == nil {
				ex.end, err = regexp.Compile("(?m)" + m[4])
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %v", ex.line, err))
			continue
		}
		// The fenced block that follows: its opening fence, its body, and
		// its closing fence, which is replaced with the new block.
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			errs = append(errs, fmt.Errorf("line %d: an excerpt line must be followed at once by a fenced code block", ex.line))
			continue
		}
		fence := strings.TrimRight(lines[i+1], "\n")
		fence = fence[:len(fence)-len(strings.TrimLeft(fence, "`"))]
		closing := -1
		for j := i + 2; j < len(lines); j++ {
			if strings.TrimRight(lines[j], "\n") == fence {
				closing = j
				break
			}
		}
		if closing < 0 {
			errs = append(errs, fmt.Errorf("line %d: the code block after it has no closing %s", ex.line, fence))
			continue
		}
		code, err := ex.code(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %v", ex.line, err))
			code = strings.Join(lines[i+2:closing], "")
		}
		out.WriteString(fence + ex.lang + "\n" + code + fence + "\n")
		i = closing
	}
	return out.String(), count, errors.Join(errs...)
}

// code returns the lines of the source file that the excerpt quotes.
func (ex excerpt) code(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, ex.file))
	if err != nil {
		return "", fmt.Errorf("excerpt of %s: %w", ex.file, err)
	}
	text := string(b)
	if ex.start == nil {
		return text, nil
	}
	lines := strings.SplitAfter(text, "\n")
	first := -1
	for n, l := range lines {
		l = strings.TrimRight(l, "\n")
		if first < 0 && ex.start.MatchString(l) {
			first = n
		}
		if first >= 0 && n > first && ex.end.MatchString(l) {
			return strings.Join(lines[first:n+1], ""), nil
		}
	}
	if first < 0 {
		return "", fmt.Errorf("excerpt of %s: no line matches /%s/", ex.file, strings.TrimPrefix(ex.start.String(), "(?m)"))
	}
	return "", fmt.Errorf("excerpt of %s: no line after line %d matches /%s/", ex.file, first+1, strings.TrimPrefix(ex.end.String(), "(?m)"))
}

// markdownFiles returns the Markdown files under root that may hold
// excerpts, relative to root: every *.md outside hidden directories.
func markdownFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".md") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}
