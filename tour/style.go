package main

import (
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"daemon-steps/internal/property"
)

// style decides how output looks: coloured on a terminal, plain otherwise,
// and laid out to fit the terminal's width.
type style struct {
	color bool
	width int // columns to fit in; 0 for no limit
}

// newStyle colours output only for a terminal, and never when NO_COLOR is
// set (https://no-color.org): a pipe or a file gets plain text. It fits the
// output to the width of the terminal, or to COLUMNS when w is not one.
func newStyle(w io.Writer) style {
	st := style{width: termWidth(w)}
	f, ok := w.(*os.File)
	if !ok {
		return st
	}
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return st
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	st.color = err == nil
	return st
}

// termWidth returns the width of the terminal w writes to (the TIOCGWINSZ
// ioctl), or else the COLUMNS environment variable, or else 0: a pipe to a
// program that nobody told a width gets lines as long as they come.
func termWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 0
}

// ANSI SGR codes.
const (
	sgrBold  = "1"
	sgrDim   = "2"
	sgrRed   = "31"
	sgrGreen = "32"
	sgrCyan  = "36"
)

// paint wraps s in an SGR sequence when colour is on.
func (st style) paint(s string, codes ...string) string {
	if !st.color || len(codes) == 0 || s == "" {
		return s
	}
	return "\x1b[" + strings.Join(codes, ";") + "m" + s + "\x1b[0m"
}

// symbol is the one-character mark for m.
func symbol(m property.Mark) string {
	switch m {
	case property.Holds:
		return "✓"
	case property.Fails:
		return "✗"
	case property.Classic:
		return "≈"
	case property.Manager:
		return "M"
	}
	return "–"
}

// mark draws the symbol for m in its colour.
func (st style) mark(m property.Mark) string {
	switch m {
	case property.Holds:
		return st.paint(symbol(m), sgrGreen)
	case property.Fails:
		return st.paint(symbol(m), sgrRed)
	case property.Classic, property.Manager:
		return st.paint(symbol(m), sgrCyan)
	}
	return st.paint(symbol(m), sgrDim)
}

// width is how many columns s takes on a terminal: every character the
// tour prints (box drawing, ✓, ✗, ≈, M) takes one, and colour takes none.
func width(s string) int { return utf8.RuneCountInString(sgr.ReplaceAllString(s, "")) }

// sgr matches an ANSI colour sequence.
var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// pad fills s with spaces to n columns.
func pad(s string, n int) string {
	if w := width(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}
