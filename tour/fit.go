package main

import (
	"bytes"
	"io"
	"strings"
)

// fitWriter passes what is written to it on to w, wrapping each line
// longer than width at its spaces. A continuation line keeps the line's
// indentation and four spaces more, so that it reads as part of the line
// above. Box drawings are sized to fit beforehand (drawTree) and pass
// whole, as does a word longer than the width.
type fitWriter struct {
	w     io.Writer
	width int
	part  []byte // a line not yet ended
}

// fit returns w wrapped to st's width, or w itself when there is no limit.
// Call flush on the result when done.
func fit(w io.Writer, st style) *fitWriter { return &fitWriter{w: w, width: st.width} }

func (f *fitWriter) Write(p []byte) (int, error) {
	f.part = append(f.part, p...)
	for {
		i := bytes.IndexByte(f.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(f.part[:i])
		f.part = f.part[i+1:]
		if _, err := io.WriteString(f.w, strings.Join(wrap(line, f.width), "\n")+"\n"); err != nil {
			return 0, err
		}
	}
}

// flush writes what remains of an unfinished last line.
func (f *fitWriter) flush() error {
	if len(f.part) == 0 {
		return nil
	}
	_, err := io.WriteString(f.w, strings.Join(wrap(string(f.part), f.width), "\n"))
	f.part = nil
	return err
}

// wrap breaks line at spaces into lines of at most width columns (0: no
// limit), continuing with the line's indentation and four spaces more.
func wrap(line string, limit int) []string {
	if limit <= 0 || width(line) <= limit || isBox(line) {
		return []string{line}
	}
	body := strings.TrimLeft(line, " ")
	indent := strings.Repeat(" ", len(line)-len(body))
	more := indent + "    "
	if width(more) >= limit/2 {
		more = "    "
	}
	var lines []string
	current := indent
	for _, whole := range strings.Split(body, " ") {
		for _, word := range pieces(whole, limit-width(more)) {
			switch {
			case strings.TrimSpace(current) == "":
				current += word
			case width(current)+1+width(word) <= limit:
				current += " " + word
			default:
				lines = append(lines, current)
				current = more + word
			}
		}
	}
	return append(lines, current)
}

// pieces cuts a word wider than n columns, such as a long path, into
// pieces of n columns, so that no line is wider than the terminal. A word
// with colour in it stays whole.
func pieces(word string, n int) []string {
	if n <= 0 || width(word) <= n || strings.Contains(word, "\x1b") {
		return []string{word}
	}
	r := []rune(word)
	var out []string
	for len(r) > n {
		out = append(out, string(r[:n]))
		r = r[n:]
	}
	return append(out, string(r))
}

// isBox reports whether line is part of a box drawing.
func isBox(line string) bool {
	body := strings.TrimLeft(line, " ")
	return strings.HasPrefix(body, "┌") || strings.HasPrefix(body, "│") || strings.HasPrefix(body, "└")
}
