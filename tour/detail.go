package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"daemon-steps/internal/launch"
	"daemon-steps/internal/property"
)

// renderStep prints one step in depth: how the tour launched it, its
// processes, and every property with its evidence.
func renderStep(w io.Writer, r *Report, row Row, st style) {
	p := property.Properties[min(row.Step.N, len(property.Properties))-1]
	fmt.Fprintf(w, "%s (%s)\n", st.paint(fmt.Sprintf("Step %02d, %s", row.Step.N, row.Title()), sgrBold), row.Step.Name)
	l := row.Launch
	switch {
	case row.Step.N <= len(property.Properties):
		fmt.Fprintf(w, "From this step on, %s.\n", p.Claim)
	case l != nil && l.NewStyle:
		fmt.Fprintln(w, "A new-style daemon: the manager does what M marks; umask, signals, reaping stay its job.")
	}
	if row.Err != nil {
		fmt.Fprintf(w, "\n%s\n", st.paint("✗ could not tour it: "+row.Err.Error(), sgrRed))
		return
	}
	if row.Skip != "" {
		fmt.Fprintf(w, "\n%s\n", st.paint("– not toured: "+row.Skip, sgrCyan))
		return
	}
	fmt.Fprintln(w)
	renderLaunch(w, l, st)
	fmt.Fprintln(w)
	fmt.Fprintln(w, st.paint(fmt.Sprintf("Its processes, after %d connections opened and closed and 1 held open", launch.Opened), sgrBold))
	if l.NewStyle {
		fmt.Fprintf(w, "  The tour (pid %d) stands in for the service manager: the server is its child, in the foreground.\n", r.Tour)
	} else {
		fmt.Fprintf(w, "  The tour (pid %d) is a child subreaper: the server, orphaned by its launcher, became its child.\n", r.Tour)
	}
	for _, line := range drawTree(l, row.Snap.Stat, st.width-2) {
		fmt.Fprintln(w, "  "+line)
	}
	fmt.Fprintln(w)
	heading := fmt.Sprintf("The twelve properties of the server, pid %d", l.Server)
	if row.Step.N <= len(property.Properties) {
		heading += fmt.Sprintf(" ([%d] is this step's)", row.Step.N)
	}
	fmt.Fprintln(w, st.paint(heading, sgrBold))
	renderChecklist(w, row.Cells, row.Step.N, st)
	for _, p := range l.Problems {
		fmt.Fprintln(w, st.paint("problem: "+p, sgrCyan))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, st.paint("Try it by hand", sgrBold))
	fmt.Fprintln(w, "  The tour has stopped every process above. To start this step yourself:")
	fmt.Fprintf(w, "  $ go build -o /tmp/echod ./%s\n", row.Step.Name)
	if l.NewStyle {
		fmt.Fprintf(w, "  $ systemd-socket-activate -l /tmp/echod.sock /tmp/echod %s &\n", handFlags(l))
		fmt.Fprintln(w, "  $ echo hello | go run ./client -socket /tmp/echod.sock")
	} else {
		fmt.Fprintf(w, "  $ /tmp/echod %s\n", handFlags(l))
	}
	fmt.Fprintln(w, "  $ ps -o pid,ppid,pgid,sid,tty,stat,cmd -C echod")
}

// renderLaunch tells how the tour started the step and what it said.
func renderLaunch(w io.Writer, l *property.Launch, st style) {
	if l.NewStyle {
		renderManagedStart(w, l, st)
		return
	}
	fmt.Fprintln(w, st.paint("How the tour launched it", sgrBold))
	fmt.Fprintf(w, "  A shell (pid %d) leads a session of its own and controls %s.\n", l.Shell, l.Terminal)
	open := fmt.Sprintf("%s open as descriptor %d", filepath.Base(l.Leaked), launch.LeakedFd)
	if l.LeakedPipe != "" {
		open += fmt.Sprintf(" and %s as descriptor %d", l.LeakedPipe, launch.PipeFd)
	}
	fmt.Fprintf(w, "  In %s, under umask 000, with %s:\n", l.Dir, open)
	fmt.Fprintf(w, "  $ umask 000; ./echod %s %d<>leaked\n", strings.Join(relative(l.FlagArgs, l.Dir), " "), launch.LeakedFd)
	for _, line := range strings.Split(strings.TrimSpace(l.Output), "\n") {
		if line != "" {
			fmt.Fprintln(w, "  "+line)
		}
	}
	fmt.Fprintf(w, "  The launcher (pid %d) returned with status %d. The server is pid %d.\n", l.Launcher, l.Status, l.Server)
}

// renderManagedStart tells how the tour started a new-style step, as a
// service manager would, and what the server wrote to standard error.
func renderManagedStart(w io.Writer, l *property.Launch, st style) {
	fmt.Fprintln(w, st.paint("How the tour started it", sgrBold))
	fmt.Fprintf(w, "  As a service manager would: in %s, in a session of its own, under umask 000:\n", l.Dir)
	fmt.Fprintf(w, "  $ %s\n", strings.ReplaceAll(l.Manager, l.Dir+"/", ""))
	fmt.Fprintf(w, "  It stayed in the foreground as pid %d and told $NOTIFY_SOCKET %q.\n", l.Server, l.Notifications())
	fmt.Fprintln(w, "  Its standard error, which a manager's journal would take:")
	for _, line := range strings.Split(strings.TrimSpace(l.Output), "\n") {
		if line != "" {
			fmt.Fprintln(w, "  "+line)
		}
	}
}

// relative shortens the sandbox's paths in args for reading.
func relative(args []string, dir string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.TrimPrefix(a, dir+"/")
	}
	return out
}

// handFlags are flags for trying the step by hand, outside any sandbox.
func handFlags(l *property.Launch) string {
	var flags []string
	for _, f := range []struct{ name, value string }{
		{"socket", "/tmp/echod.sock"}, {"pidfile", "/tmp/echod.pid"}, {"log", "/tmp/echod.log"},
	} {
		if l.Flags[f.name] {
			flags = append(flags, "-"+f.name+" "+f.value)
		}
	}
	return strings.Join(flags, " ")
}

// item is one line of a checklist: a property of the twelve, or a point
// of daemon(7)'s new-style list.
type item struct{ label, column, claim string }

// classicItems are the twelve properties, numbered.
func classicItems() []item {
	var items []item
	for _, p := range property.Properties {
		items = append(items, item{fmt.Sprintf("%2d", p.N), p.Column, p.Claim})
	}
	return items
}

// newStyleItems are the points of daemon(7)'s new-style list, lettered.
func newStyleItems() []item {
	var items []item
	for _, p := range property.NewStyleProperties {
		items = append(items, item{" " + p.Label, p.Column, p.Claim})
	}
	return items
}

// renderChecklist prints each property with its mark, what it observed,
// the evidence and the command to see it by hand. Property highlight, if
// any, is in brackets.
func renderChecklist(w io.Writer, cells [len(property.Properties)]property.Cell, highlight int, st style) {
	renderItems(w, classicItems(), cells[:], fmt.Sprintf("%2d", highlight), st)
}

// renderItems prints a checklist: each item with its mark, what it
// observed, why it is not shown, the evidence and the command to see it
// by hand. The item labelled highlight, if any, is in brackets.
func renderItems(w io.Writer, items []item, cells []property.Cell, highlight string, st style) {
	for k, c := range cells {
		p := items[k]
		label := " " + p.label + " "
		if p.label == highlight {
			label = "[" + p.label + "]"
		}
		fmt.Fprintf(w, "%s %s %s %s\n", st.paint(label, sgrBold), pad(p.column, 9), st.mark(c.Mark), st.paint(c.Value, sgrBold))
		fmt.Fprintf(w, "       %s\n", st.paint(p.claim, sgrDim))
		if c.Mark == property.NotShown && c.Why != c.Value {
			fmt.Fprintf(w, "       not shown: %s\n", c.Why)
		}
		for _, e := range c.Evidence {
			fmt.Fprintf(w, "       %s\n", e)
		}
		fmt.Fprintf(w, "       %s\n", st.paint("$ "+c.Command, sgrCyan))
	}
}

// renderPid prints the checklist of a process the tour did not launch,
// and, when it looks like a managed service, daemon(7)'s new-style list.
func renderPid(w io.Writer, s *property.Subject, cells [len(property.Properties)]property.Cell, st style) {
	snap := &s.Snap
	fmt.Fprintf(w, "%s: %s\n", st.paint(fmt.Sprintf("pid %d (%s)", snap.Pid, snap.Stat.Comm), sgrBold), snap.Command())
	if snap.StatErr == nil {
		fmt.Fprintln(w, property.IdsEvidence(snap.Stat)+fmt.Sprintf(", state %c", snap.Stat.State))
	}
	fmt.Fprintln(w)
	renderChecklist(w, cells, 0, st)
	fmt.Fprintln(w)
	fmt.Fprintln(w, summarize(classicItems(), cells[:], "of the %d recommendations"))
	fmt.Fprintln(w)
	managed, why := property.LooksManaged(s)
	if !managed {
		fmt.Fprintf(w, "Not judged against daemon(7)'s new-style list: nothing says a service manager started it (%s).\n", why)
		return
	}
	fmt.Fprintln(w, st.paint("daemon(7)'s new-style list", sgrBold)+fmt.Sprintf(", as it looks like a managed service: %s", why))
	newStyle := property.CheckNewStyle(s)
	renderItems(w, newStyleItems(), newStyle[:], "", st)
	fmt.Fprintln(w)
	fmt.Fprintln(w, summarize(newStyleItems(), newStyle[:], "of the %d points of the new-style list"))
}

// summarize counts which items of a checklist a process follows; of says
// of what, with %d for how many there are.
func summarize(items []item, cells []property.Cell, of string) string {
	var yes, no, classic, unknown []string
	for k, c := range cells {
		n := strings.TrimSpace(items[k].label)
		switch c.Mark {
		case property.Holds:
			yes = append(yes, n)
		case property.Fails:
			no = append(no, n)
		case property.Classic:
			classic = append(classic, n)
		default:
			unknown = append(unknown, n)
		}
	}
	list := func(ns []string) string {
		if len(ns) == 0 {
			return "none"
		}
		return strings.Join(ns, " ")
	}
	s := fmt.Sprintf("Follows %d "+of+" (%s); not %s; ", len(yes), len(cells), list(yes), list(no))
	if len(classic) > 0 {
		s += fmt.Sprintf("as the classic fork-setsid-fork recipe does (≈): %s; ", list(classic))
	}
	return s + "not shown: " + list(unknown) + "."
}
