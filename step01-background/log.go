package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode"
)

// logError reports a failure of the running server. It writes to standard
// error, which the server shares with the launcher.
func logError(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", progName, fmt.Sprintf(format, args...))
}

// oneLine escapes the control characters in s, a newline above all, so
// that a message stays one line whatever path it quotes: the launcher reads
// one line, and a newline in a log could start a forged entry.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	quoted := strconv.Quote(s)
	return quoted[1 : len(quoted)-1]
}
