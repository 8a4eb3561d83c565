package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// A command is one command a README shows, with what the README says it
// prints and the exit status it must end with.
type command struct {
	file string   // the README
	line int      // its line in the README, counting from 1
	text string   // the command, without the "$ " prompt
	want []string // the lines the README shows after it
	// checkOutput is false for a command listed without a prompt in a
	// ```sh block: it must run and exit as declared, its output is not shown.
	checkOutput bool
	// status is the exit status it must end with; anyStatus when the
	// command prints its own status ($?) or the next command does.
	status int
}

// anyStatus marks a command whose status the transcript shows some other
// way, so the shell's own status is not checked.
const anyStatus = -1

var (
	// "# exit status 1" at the end of a command declares its status.
	declaredStatus = regexp.MustCompile(`#\s*exit status (\d+)\b`)
	// go run prints "exit status N" as its last line when the program fails.
	shownStatus = regexp.MustCompile(`^exit status (\d+)$`)
)

// parseFile reads the transcripts of one README.
func parseFile(path string) ([]command, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return parse(path, lines)
}

// parse finds the transcripts in a README's lines. Two kinds of fenced
// block are run:
//
//   - a block without a language whose first line starts with "$ ": each
//     "$ " line is a command, and the lines up to the next one are its
//     output, compared with what it prints;
//   - a ```sh block: each line is a command whose output is not shown.
//
// Every other block (```go, ```diff, output shown for illustration) is
// left alone.
func parse(file string, lines []string) ([]command, error) {
	var cmds []command
	for i := 0; i < len(lines); i++ {
		info, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		start := i + 1
		end := start
		for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("%s:%d: the code block is never closed", file, i+1)
		}
		block := lines[start:end]
		switch {
		case info == "sh":
			cmds = append(cmds, commandList(file, start, block)...)
		case info == "" && len(block) > 0 && strings.HasPrefix(block[0], "$ "):
			cmds = append(cmds, transcript(file, start, block)...)
		}
		i = end
	}
	for k := range cmds {
		cmds[k].status = expectedStatus(cmds, k)
	}
	return cmds, nil
}

// commandList reads a ```sh block: one command a line.
func commandList(file string, start int, block []string) []command {
	var cmds []command
	for j, l := range block {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		cmds = append(cmds, command{file: file, line: start + j + 1, text: l})
	}
	return cmds
}

// transcript reads a block of "$ command" lines and their output.
func transcript(file string, start int, block []string) []command {
	var cmds []command
	for j, l := range block {
		if text, ok := strings.CutPrefix(l, "$ "); ok {
			cmds = append(cmds, command{file: file, line: start + j + 1, text: text, checkOutput: true})
			continue
		}
		last := &cmds[len(cmds)-1]
		last.want = append(last.want, l)
	}
	return cmds
}

// expectedStatus is the status the k-th command must end with: the one
// declared in a trailing "# exit status N" comment, or, for go run, the one
// it prints as its last line ("exit status N"); any status when it
// prints $? itself or the next command is "echo $?"; 0 otherwise.
func expectedStatus(cmds []command, k int) int {
	c := cmds[k]
	if m := declaredStatus.FindStringSubmatch(c.text); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if strings.Contains(c.text, "$?") {
		return anyStatus
	}
	if k+1 < len(cmds) && strings.TrimSpace(cmds[k+1].text) == "echo $?" {
		return anyStatus
	}
	if len(c.want) > 0 && strings.Contains(c.text, "go run ") {
		if m := shownStatus.FindStringSubmatch(c.want[len(c.want)-1]); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	return 0
}
