package main

import (
	"fmt"
	"regexp"
	"strings"
)

// What changes from run to run is matched by pattern; everything else in
// a README's output must come out as shown.
//
//   - A number of three digits or more that does not start with 0 is a
//     variable: a pid, an inode, a port, a size. Its first appearance binds
//     it to what the run printed, every later appearance, in output or in a
//     command, means that value, and two different numbers in the README
//     must be two different values in the run. "exit status 124" and
//     "Umask: 0027" are exact.
//   - pts/N is a variable too: the terminal the run got.
//   - Times (16:29, 16:41:11), dates (Nov 25), device numbers (fe:00:) and
//     addresses (0x48aa41) match any such text.
//   - A line "..." matches any number of lines; "..." in a line, any
//     text: "echod: ... no such file or directory" keeps to the part of
//     a message that matters.
//   - Runs of blanks count as one, so ps's columns may widen.
//   - "bash: line 3: kill: ..." matches "bash: kill: ...": a shell that
//     reads commands from a script names the line.

// bindings maps a number shown in the README to the one the run printed.
type bindings map[string]string

func (b bindings) clone() bindings {
	c := make(bindings, len(b))
	for k, v := range b {
		c[k] = v
	}
	return c
}

// bind records that the README's name stands for value, and reports
// whether that is consistent with what is bound already.
func (b bindings) bind(name, value string) bool {
	if v, ok := b[name]; ok {
		return v == value
	}
	if strings.HasPrefix(name, "pts/") {
		b[name] = value // the kernel reuses a closed terminal's number
		return true
	}
	for n, v := range b {
		if v == value && n != name && !strings.HasPrefix(n, "pts/") {
			return false // two numbers in the README, one in the run
		}
	}
	b[name] = value
	return true
}

// token finds, in a README's output line, what is matched by pattern.
var token = regexp.MustCompile(
	`exit status \d+` +
		`|\.\.\.` +
		`|\b\d{1,2}:\d{2}(?::\d{2})?\b` +
		`|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}\b` +
		`|\b[0-9a-f]{2}:[0-9a-f]{2}:` +
		`|\b0x[0-9a-f]+\b` +
		`|pts/\d+` +
		`|\d+`)

// A piece of a compiled line: literal text, a pattern, or a variable.
type piece struct {
	literal string
	pattern string
	varName string // a number or pts/N
}

// compile splits a README's output line into pieces.
func compile(want string) []piece {
	want = normalize(want)
	var ps []piece
	last := 0
	for _, loc := range token.FindAllStringIndex(want, -1) {
		if loc[0] > last {
			ps = append(ps, piece{literal: want[last:loc[0]]})
		}
		t := want[loc[0]:loc[1]]
		switch {
		case t == "..." && loc[0] > 0 && want[loc[0]-1] == ' ' && strings.HasPrefix(want[loc[1]:], " "):
			// "a ... b" also matches "a b": the words left out may be none.
			ps = append(ps, piece{pattern: `(?:.* )?`})
			loc[1]++
		case t == "...":
			ps = append(ps, piece{pattern: `.*`})
		case strings.HasPrefix(t, "exit status "):
			ps = append(ps, piece{literal: t})
		case strings.HasPrefix(t, "pts/"):
			ps = append(ps, piece{literal: "pts/"}, piece{varName: "pts/" + t[4:]})
		case isVariableNumber(t):
			ps = append(ps, piece{varName: t})
		case t[0] >= '0' && t[0] <= '9' && isDigits(t):
			ps = append(ps, piece{literal: t})
		case strings.HasPrefix(t, "0x"):
			ps = append(ps, piece{pattern: `0x[0-9a-f]+`})
		case strings.Contains(t, ":") && !strings.HasSuffix(t, ":"):
			ps = append(ps, piece{pattern: `\d{1,2}:\d{2}(?::\d{2})?`})
		case strings.HasSuffix(t, ":"):
			ps = append(ps, piece{pattern: `[0-9a-f]{2}:[0-9a-f]{2}:`})
		default: // a date
			ps = append(ps, piece{pattern: `(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}`})
		}
		last = loc[1]
	}
	if last < len(want) {
		ps = append(ps, piece{literal: want[last:]})
	}
	return ps
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// isVariableNumber tells a pid, inode or size (three digits or more, no
// leading zero) from a small constant or a mode.
func isVariableNumber(s string) bool {
	return isDigits(s) && len(s) >= 3 && s[0] != '0'
}

// normalize makes blanks and the shell's line numbers not matter.
var scriptLine = regexp.MustCompile(`^bash: line \d+: `)

func normalize(s string) string {
	s = strings.TrimRight(s, " \t\r")
	s = scriptLine.ReplaceAllString(s, "bash: ")
	return strings.Join(strings.Fields(s), " ")
}

// matchLine matches one line of output against one compiled line, and
// binds the variables it holds.
func matchLine(ps []piece, got string, b bindings) bool {
	var re strings.Builder
	re.WriteString("^")
	var names []string
	for _, p := range ps {
		switch {
		case p.varName != "":
			if v, ok := b[p.varName]; ok {
				re.WriteString(regexp.QuoteMeta(v))
				continue
			}
			re.WriteString(`(\d+)`)
			names = append(names, p.varName)
		case p.pattern != "":
			re.WriteString(p.pattern)
		default:
			re.WriteString(regexp.QuoteMeta(p.literal))
		}
	}
	re.WriteString("$")
	m := regexp.MustCompile(re.String()).FindStringSubmatch(normalize(got))
	if m == nil {
		return false
	}
	for i, name := range names {
		if !b.bind(name, m[i+1]) {
			return false
		}
	}
	return true
}

// matchOutput matches what a command printed against what the README
// shows. On success it returns the bindings extended by the variables the
// output bound; on failure, a description of the first difference.
func matchOutput(want, got []string, b bindings) (bindings, error) {
	want = trimEmpty(want)
	got = trimEmpty(got)
	compiled := make([][]piece, len(want))
	for i, w := range want {
		compiled[i] = compile(w)
	}
	nb := b.clone()
	if matchFrom(want, compiled, 0, got, 0, nb) {
		return nb, nil
	}
	return nil, firstDifference(want, compiled, got, b)
}

// matchFrom matches want[i:] against got[j:], trying every length for
// "..." lines.
func matchFrom(want []string, compiled [][]piece, i int, got []string, j int, b bindings) bool {
	if i == len(want) {
		return j == len(got)
	}
	if strings.TrimSpace(want[i]) == "..." {
		for k := j; k <= len(got); k++ {
			try := b.clone()
			if matchFrom(want, compiled, i+1, got, k, try) {
				copyInto(b, try)
				return true
			}
		}
		return false
	}
	if j == len(got) {
		return false
	}
	try := b.clone()
	if !matchLine(compiled[i], got[j], try) {
		return false
	}
	if matchFrom(want, compiled, i+1, got, j+1, try) {
		copyInto(b, try)
		return true
	}
	return false
}

func copyInto(dst, src bindings) {
	for k, v := range src {
		dst[k] = v
	}
}

// firstDifference says where a line-by-line reading first disagrees.
func firstDifference(want []string, compiled [][]piece, got []string, b bindings) error {
	b = b.clone()
	for i := range want {
		if strings.TrimSpace(want[i]) == "..." {
			return fmt.Errorf("the output differs after a \"...\" line")
		}
		if i >= len(got) {
			return fmt.Errorf("line %d: want %q, the output ended", i+1, want[i])
		}
		if !matchLine(compiled[i], got[i], b) {
			return fmt.Errorf("line %d: want %q (variables bound so far: %s), got %q", i+1, want[i], b, got[i])
		}
	}
	return fmt.Errorf("line %d: want the end of the output, got %q", len(want)+1, got[len(want)])
}

func (b bindings) String() string {
	var s []string
	for k, v := range b {
		s = append(s, k+"="+v)
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

func trimEmpty(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	return lines
}

// substitute writes the run's values into a command in place of the
// README's numbers: "kill 10274" kills the server this run started.
var numberOrPts = regexp.MustCompile(`pts/\d+|\d+`)

func substitute(cmd string, b bindings) string {
	return numberOrPts.ReplaceAllStringFunc(cmd, func(t string) string {
		if v, ok := b[t]; ok {
			if strings.HasPrefix(t, "pts/") {
				return "pts/" + v
			}
			return v
		}
		return t
	})
}
