package main

import (
	"fmt"
	"strings"
)

// context is how many unchanged lines a hunk shows around a change, as
// diff -u does.
const context = 3

// op is one line of an edit script.
type op struct {
	kind byte // ' ' kept, '-' deleted, '+' inserted
	a, b int  // the line's index in the old and the new text (the one that applies)
}

// split cuts text into lines that keep their "\n"; the last one lacks it
// when the text does not end with a newline.
func split(text string) []string {
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// editScript returns a shortest edit script from a to b: the lines of a
// longest common subsequence are kept, every other line of a is deleted and
// every other line of b inserted. Where there is a choice, deletions come
// before insertions, as in diff -u.
func editScript(a, b []string) []op {
	// Common lines at both ends cost nothing to find and keep the table small.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]

	// lcs[i][j] is the length of a longest common subsequence of ma[i:] and
	// mb[j:].
	w := len(mb) + 1
	lcs := make([]int32, (len(ma)+1)*w)
	for i := len(ma) - 1; i >= 0; i-- {
		for j := len(mb) - 1; j >= 0; j-- {
			switch {
			case ma[i] == mb[j]:
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			case lcs[(i+1)*w+j] >= lcs[i*w+j+1]:
				lcs[i*w+j] = lcs[(i+1)*w+j]
			default:
				lcs[i*w+j] = lcs[i*w+j+1]
			}
		}
	}

	kinds := make([]byte, 0, len(a)+len(b))
	for range pre {
		kinds = append(kinds, ' ')
	}
	i, j := 0, 0
	for i < len(ma) || j < len(mb) {
		switch {
		case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
			kinds = append(kinds, ' ')
			i, j = i+1, j+1
		case j == len(mb) || i < len(ma) && lcs[(i+1)*w+j] >= lcs[i*w+j+1]:
			kinds = append(kinds, '-')
			i++
		default:
			kinds = append(kinds, '+')
			j++
		}
	}
	for range suf {
		kinds = append(kinds, ' ')
	}
	slide(kinds, a, b)

	script := make([]op, len(kinds))
	i, j = 0, 0
	for k, kind := range kinds {
		script[k] = op{kind, i, j}
		if kind != '+' {
			i++
		}
		if kind != '-' {
			j++
		}
	}
	return script
}

// slide moves each run of only inserted or only deleted lines down for as
// long as the line after it equals its first line, as diff -u does. Such a
// run could sit anywhere along the repeated lines; at the bottom, a
// function added after another one reads as the new function, not as the
// old one's last lines followed by the new one's first.
func slide(kinds []byte, a, b []string) {
	i, j := 0, 0 // the old and the new line at position k
	for k := 0; k < len(kinds); {
		if kinds[k] == ' ' {
			i, j, k = i+1, j+1, k+1
			continue
		}
		e := k
		for e < len(kinds) && kinds[e] == kinds[k] {
			e++
		}
		n := e - k
		if e < len(kinds) && kinds[e] != ' ' {
			// Deletions followed by insertions: leave them where they are.
			for ; k < len(kinds) && kinds[k] != ' '; k++ {
				if kinds[k] == '-' {
					i++
				} else {
					j++
				}
			}
			continue
		}
		lines, at := b, &j
		if kinds[k] == '-' {
			lines, at = a, &i
		}
		for e < len(kinds) && kinds[e] == ' ' && lines[*at] == lines[*at+n] {
			kinds[k], kinds[e] = ' ', kinds[k]
			i, j, k, e = i+1, j+1, k+1, e+1
		}
		*at += n
		k = e
	}
}

// Unified returns the unified diff, with three lines of context, that
// turns oldText, named oldName, into newText, named newName; "" if the two
// are equal. A file that does not exist is named /dev/null, with empty text.
func Unified(oldName, newName, oldText, newText string) string {
	if oldText == newText {
		return ""
	}
	a, b := split(oldText), split(newText)
	script := editScript(a, b)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", oldName, newName)
	for start := 0; start < len(script); {
		// A hunk runs from context lines before its first change to context
		// lines after its last; a change that follows the one before it
		// after no more than 2*context kept lines joins the same hunk.
		first := start
		for first < len(script) && script[first].kind == ' ' {
			first++
		}
		if first == len(script) {
			break
		}
		last := first
		for k := first + 1; k < len(script) && k-last-1 <= 2*context; k++ {
			if script[k].kind != ' ' {
				last = k
			}
		}
		from := max(first-context, start)
		to := min(last+context+1, len(script))
		writeHunk(&out, script[from:to], a, b)
		start = to
	}
	return out.String()
}

// writeHunk writes one hunk: its "@@ -l,s +l,s @@" header and its lines.
func writeHunk(out *strings.Builder, hunk []op, a, b []string) {
	var na, nb int
	for _, o := range hunk {
		if o.kind != '+' {
			na++
		}
		if o.kind != '-' {
			nb++
		}
	}
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(hunk[0].a, na), hunkRange(hunk[0].b, nb))
	for _, o := range hunk {
		var line string
		if o.kind == '+' {
			line = b[o.b]
		} else {
			line = a[o.a]
		}
		out.WriteByte(o.kind)
		out.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			out.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// hunkRange formats the start and length of one side of a hunk as diff -u
// does: lines count from 1, a length of 1 is left out, and an empty range
// starts at the line before it.
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
