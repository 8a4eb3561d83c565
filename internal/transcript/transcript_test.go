package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Test that a README's pids, inodes, terminals and times are matched by
// pattern, and bound: a number seen once means the same value afterwards.
func TestOutputMatchesByPattern(t *testing.T) {
	want := []string{
		"  PID  PPID  PGID   SID TT       STAT CMD",
		"10274     1 10264 23438 pts/0    Sl   /tmp/echod -socket /tmp/step01.sock",
	}
	got := []string{
		"    PID    PPID    PGID     SID TT       STAT CMD",
		"  10012       1   10011   10000 pts/3    Sl   /tmp/echod -socket /tmp/step01.sock",
	}
	b, err := matchOutput(want, got, bindings{})
	require.NoErrorf(t, err, "ps output with other pids and wider columns should match the README's")
	require.Equalf(t, "kill 10012", substitute("kill 10274", b), "a later command should use the pid this run printed")

	got[1] = "  10012       1   10012   10000 pts/3    Sl   /tmp/echod -socket /tmp/step01.sock"
	_, err = matchOutput(want, got, bindings{})
	require.Errorf(t, err, "two different numbers in the README (PID 10274, PGID 10264) must be two different values in the run")
}

// Test that what is not a variable must come out exactly: exit statuses,
// modes, small numbers, the text around the variables.
func TestOutputConstantsAreExact(t *testing.T) {
	for _, c := range []struct{ want, got string }{
		{"exit status 124", "exit status 0"},
		{"Umask:\t0027", "Umask:\t0022"},
		{"SigIgn:\t0000000000381001", "SigIgn:\t0000000000380001"},
		{"lrwx------ 1 root root 64 Nov 25 16:29 0 -> /dev/null", "lrwx------ 1 root root 64 Dec 2 12:41 0 -> /dev/pts/3"},
		{"echod: server 10274 listens on /tmp/s07.sock", "echod: server 10274 listens on /tmp/s08.sock"},
	} {
		_, err := matchOutput([]string{c.want}, []string{c.got}, bindings{})
		require.Errorf(t, err, "%q must not match %q", c.got, c.want)
	}
	_, err := matchOutput([]string{"lrwx------ 1 root root 64 Nov 25 16:29 0 -> /dev/null"},
		[]string{"lrwx------ 1 root root 64 Dec  2 12:41 0 -> /dev/null"}, bindings{})
	require.NoErrorf(t, err, "dates and times match any date and time")
}

// Test that "..." stands for any number of lines, and that output the
// README does not show is a difference.
func TestEllipsisAndExtraLines(t *testing.T) {
	want := []string{"first", "...", "last"}
	_, err := matchOutput(want, []string{"first", "a", "b", "last"}, bindings{})
	require.NoErrorf(t, err, "... should match two lines")
	_, err = matchOutput(want, []string{"first", "last"}, bindings{})
	require.NoErrorf(t, err, "... should match no line")
	_, err = matchOutput([]string{"first"}, []string{"first", "extra"}, bindings{})
	require.Errorf(t, err, "a line the README does not show must fail")
}

// Test which blocks are run, and the exit status each command must have.
func TestParseFindsCommandsAndStatuses(t *testing.T) {
	readme := strings.Split("text\n"+
		"```\n$ go build -o /tmp/echod ./step01-background\n$ /tmp/echod -socket /tmp/x/y.sock\necho: listen: no such file\n$ echo $?\n1\n"+
		"$ printf 'hi\\n' | go run ./client -socket /tmp/none.sock\nclient: connect: refused\nexit status 1\n```\n"+
		"```go\nfmt.Println()\n```\n"+
		"```\nstep 1 parent (an illustration)\n```\n"+
		"```sh\ngo run ./tour\ngit diff --no-index a b   # exit status 1: they differ\n```\n"+
		"```\n$ cat /tmp/status.txt\nexit status 1\n```\n", "\n")
	cmds, err := parse("README.md", readme)
	require.NoError(t, err)
	var texts []string
	var statuses []int
	for _, c := range cmds {
		texts = append(texts, c.text)
		statuses = append(statuses, c.status)
	}
	require.Equalf(t, []string{
		"go build -o /tmp/echod ./step01-background",
		"/tmp/echod -socket /tmp/x/y.sock",
		"echo $?",
		"printf 'hi\\n' | go run ./client -socket /tmp/none.sock",
		"go run ./tour",
		"git diff --no-index a b   # exit status 1: they differ",
		"cat /tmp/status.txt",
	}, texts, "the commands of the $ blocks and the sh block, and nothing else")
	require.Equalf(t, []int{0, anyStatus, anyStatus, 1, 0, 1, 0}, statuses,
		"0 unless shown: by echo $? next, by $? in the command, by go run's last line \"exit status N\", or by a comment")
	require.Equalf(t, []string{"echo: listen: no such file"}, cmds[1].want, "a command's output is the lines up to the next $")
	require.Falsef(t, cmds[4].checkOutput, "an sh block's output is not compared")
}

// Test that "..." inside a line stands for any text, so a transcript can
// keep to the part of a message that matters.
func TestEllipsisInLine(t *testing.T) {
	want := []string{`echod: ... "/tmp/x/s.sock": no such file or directory`}
	_, err := matchOutput(want, []string{`echod: bind "/tmp/x/s.sock": no such file or directory`}, bindings{})
	require.NoErrorf(t, err, "... should match the words before the path")
	_, err = matchOutput(want, []string{`echod: bind "/tmp/x/s.sock": permission denied`}, bindings{})
	require.Errorf(t, err, "the text after ... must still match")
}

// Test that "a ... b" matches "a b" too: the words left out may be none.
func TestEllipsisMayStandForNothing(t *testing.T) {
	want := []string{`echod: ... another copy is running`}
	for _, got := range []string{"echod: another copy is running", "echod: start server: another copy is running"} {
		_, err := matchOutput(want, []string{got}, bindings{})
		require.NoErrorf(t, err, "%q should match %q", got, want[0])
	}
	_, err := matchOutput(want, []string{"echod:another copy is running"}, bindings{})
	require.Errorf(t, err, "the blank before ... must still be there")
}
