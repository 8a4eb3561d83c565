package main

import (
	"fmt"
	"sort"
	"strings"

	"daemon-steps/internal/proc"
	"daemon-steps/internal/property"
)

// treeProc is one process in the drawing of a step's processes, live or
// gone: the launcher, and from step 05 the session leader, have exited by
// the time the tour looks, but where they were explains where the server is.
type treeProc struct {
	Pid, PPid, Pgrp, Session int
	Comm                     string
	State                    string // as in /proc/PID/stat ("S", "Z"), or "gone"
	Role                     string
}

// treeProcs lists the processes of a launch, with the gone ones restored
// from what the tour knows of them.
func treeProcs(l *property.Launch, server proc.Stat) []treeProc {
	var procs []treeProc
	present := make(map[int]bool)
	for _, st := range l.Tree {
		present[st.Pid] = true
		procs = append(procs, treeProc{st.Pid, st.PPid, st.Pgrp, st.Session, st.Comm, string(st.State), role(l, st)})
	}
	if l.NewStyle { // started by the manager: no launcher, no session leader
		sort.Slice(procs, func(i, j int) bool { return procs[i].Pid < procs[j].Pid })
		return procs
	}
	// The launcher ran in the shell's session and group: a shell without
	// job control starts its commands in its own group.
	procs = append(procs, treeProc{l.Launcher, l.Shell, l.Shell, l.Shell, "echod", "gone",
		fmt.Sprintf("the launcher: returned with status %d", l.Status)})
	// A session whose leader is neither the shell nor the server was made
	// by a process that has gone: the intermediate session leader.
	if sid := server.Session; sid != server.Pid && sid != l.Shell && !present[sid] {
		procs = append(procs, treeProc{sid, l.Launcher, sid, sid, "echod", "gone",
			"the session leader: started the server, exited"})
	}
	sort.Slice(procs, func(i, j int) bool { return procs[i].Pid < procs[j].Pid })
	return procs
}

// role says what a live process of the sandbox is.
func role(l *property.Launch, st proc.Stat) string {
	switch {
	case st.Pid == l.Shell:
		return fmt.Sprintf("the shell: controlling process of %s", strings.TrimPrefix(l.Terminal, "/dev/"))
	case st.Pid == l.Server && l.NewStyle:
		return "the server, in the foreground, where the manager started it"
	case st.Pid == l.Server:
		return "the server"
	case st.PPid == l.Server && st.State == 'Z':
		return "finished worker: a zombie until reaped"
	case st.PPid == l.Server:
		return "a worker, serving the open connection"
	}
	return ""
}

// drawTree draws the processes as nested boxes: sessions, in them process
// groups, in those the processes, in at most limit columns (0: no limit).
func drawTree(l *property.Launch, server proc.Stat, limit int) []string {
	procs := treeProcs(l, server)
	sessions := make(map[int]map[int][]treeProc)
	for _, p := range procs {
		if sessions[p.Session] == nil {
			sessions[p.Session] = make(map[int][]treeProc)
		}
		sessions[p.Session][p.Pgrp] = append(sessions[p.Session][p.Pgrp], p)
	}
	var lines []string
	for _, sid := range sortedKeys(sessions, l.Shell) {
		// The groups of a session are drawn as wide as the widest, so that
		// their edges line up.
		groups := make(map[int][]string)
		inner := 0
		for pgid, members := range sessions[sid] {
			for _, p := range members {
				// Two frames, each "│ " and " │", around a process's line.
				groups[pgid] = append(groups[pgid], p.lines(limit-8)...)
			}
			inner = max(inner, innerWidth(groupTitle(pgid), groups[pgid]))
		}
		var body []string
		for _, pgid := range sortedKeys(sessions[sid], sid) {
			body = append(body, boxOf(groupTitle(pgid), groups[pgid], inner)...)
		}
		lines = append(lines, box(sessionTitle(l, sid), body)...)
	}
	return lines
}

// sessionTitle names a session and its controlling terminal, read from the
// tty_nr of its live members.
func sessionTitle(l *property.Launch, sid int) string {
	for _, st := range l.Tree {
		if st.Session == sid && st.TtyNr != 0 {
			return fmt.Sprintf("session %d · controlling terminal %s", sid, proc.TtyName(st.TtyNr))
		}
	}
	return fmt.Sprintf("session %d · no controlling terminal", sid)
}

// lines draws the process: pid, name, state, parent and role, the role
// wrapped under itself to fit limit columns (0 or less: no limit).
func (p treeProc) lines(limit int) []string {
	parent := fmt.Sprintf("ppid %d", p.PPid)
	if p.State == "gone" {
		parent = ""
	}
	ids := fmt.Sprintf("%-7d %-6s %-4s %-10s ", p.Pid, p.Comm, p.State, parent)
	if limit <= width(ids)+10 {
		limit = 0
	}
	roleLines := wrap(p.Role, max(limit-width(ids), 0))
	lines := []string{strings.TrimRight(ids+roleLines[0], " ")}
	for _, more := range roleLines[1:] {
		lines = append(lines, strings.Repeat(" ", width(ids))+strings.TrimSpace(more))
	}
	return lines
}

// sortedKeys returns the keys of m in increasing order, first first.
func sortedKeys[V any](m map[int]V, first int) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == first) != (keys[j] == first) {
			return keys[i] == first
		}
		return keys[i] < keys[j]
	})
	return keys
}

func groupTitle(pgid int) string { return fmt.Sprintf("process group %d", pgid) }

// box draws body in a frame with title in its top edge.
func box(title string, body []string) []string {
	return boxOf(title, body, innerWidth(title, body))
}

// innerWidth is the width a box needs inside its frame for title and body.
func innerWidth(title string, body []string) int {
	inner := width(title) + 1
	for _, line := range body {
		inner = max(inner, width(line))
	}
	return inner
}

// boxOf draws a box inner columns wide inside its frame.
func boxOf(title string, body []string, inner int) []string {
	lines := []string{"┌─ " + title + " " + strings.Repeat("─", inner-width(title)-1) + "┐"}
	for _, line := range body {
		lines = append(lines, "│ "+pad(line, inner)+" │")
	}
	return append(lines, "└"+strings.Repeat("─", inner+2)+"┘")
}
