package main

import (
	"daemon-steps/internal/harness"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// style decides how marks look: coloured on a terminal, plain otherwise.
type style struct {
	color bool
}

// newStyle colours output only for a terminal, and never when NO_COLOR is
// set (https://no-color.org): a pipe or a file gets plain text.
func newStyle(w io.Writer) style {
	f, ok := w.(*os.File)
	if !ok {
		return style{}
	}
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return style{}
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return style{color: err == nil}
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
func symbol(m harness.Mark) string {
	switch m {
	case harness.Holds:
		return "✓"
	case harness.Fails:
		return "✗"
	case harness.Classic:
		return "≈"
	}
	return "–"
}

// mark draws the symbol for m in its colour.
func (st style) mark(m harness.Mark) string {
	switch m {
	case harness.Holds:
		return st.paint(symbol(m), sgrGreen)
	case harness.Fails:
		return st.paint(symbol(m), sgrRed)
	case harness.Classic:
		return st.paint(symbol(m), sgrCyan)
	}
	return st.paint(symbol(m), sgrDim)
}

// width is how many columns s takes on a terminal: every character the
// tour prints (box drawing, ✓, ✗, ≠) takes one.
func width(s string) int { return utf8.RuneCountInString(s) }

// pad fills s with spaces to n columns.
func pad(s string, n int) string {
	if w := width(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}
