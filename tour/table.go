package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"daemon-steps/internal/launch"
	"daemon-steps/internal/property"
)

// renderTable prints the report as a table, a row per step and a column per
// property, then says how to read it. When that table is wider than the
// terminal it is printed transposed (renderNarrowTable).
func renderTable(w io.Writer, r *Report, st style) {
	labelWidth, widths := columnWidths(r)
	total := labelWidth
	for _, n := range widths {
		total += 1 + n + 2
	}
	if st.width > 0 && total > st.width {
		renderNarrowTable(w, r, st)
	} else {
		renderWideTable(w, r, labelWidth, widths, st)
	}
	fmt.Fprintln(w)
	renderLegend(w, r, st)
}

// columnWidths returns how wide the wide table's label column is and each
// property's column, without the brackets around a cell.
func columnWidths(r *Report) (labelWidth int, widths []int) {
	widths = make([]int, len(property.Properties))
	for k, p := range property.Properties {
		widths[k] = width(fmt.Sprintf("%d %s", p.N, p.Column))
	}
	labelWidth = width("step")
	for _, row := range r.Rows {
		labelWidth = max(labelWidth, width(rowLabel(row)))
		if row.Err != nil || row.Skip != "" {
			continue
		}
		for k, c := range row.Cells {
			widths[k] = max(widths[k], width(cellText(c)))
		}
	}
	return labelWidth, widths
}

// renderWideTable prints a row per step and a column per property.
func renderWideTable(w io.Writer, r *Report, labelWidth int, widths []int, st style) {
	line := pad("step", labelWidth)
	for k, p := range property.Properties {
		line += " " + pad(fmt.Sprintf(" %d %s", p.N, p.Column), widths[k]+2)
	}
	fmt.Fprintln(w, st.paint(strings.TrimRight(line, " "), sgrBold))
	for _, row := range r.Rows {
		fmt.Fprintln(w, renderRow(row, labelWidth, widths, st))
	}
}

// renderNarrowTable prints the table transposed, for a terminal too narrow
// for a column per property (the wide table takes some 230 columns): a row
// per property, a column per step with its mark, the cell of the step that
// introduces the property in brackets; then what the property shows at
// that step and, when there is room, at the step before. -step N has the
// rest.
func renderNarrowTable(w io.Writer, r *Report, st style) {
	const labelWidth = 13 // "10 signals   "
	head := pad("property", labelWidth)
	for _, row := range r.Rows {
		head += fmt.Sprintf("%02d ", row.Step.N)
	}
	values := "step before → its step"
	if st.width > 0 && width(head)+1+width(values) > st.width {
		values = "→ its step"
	}
	fmt.Fprintln(w, st.paint(head+" "+values, sgrBold))
	for k, p := range property.Properties {
		line := pad(fmt.Sprintf("%2d %s", p.N, p.Column), labelWidth)
		for _, row := range r.Rows {
			if k+1 == row.Step.N {
				line += "[" + st.mark(row.Cells[k].Mark) + "]"
			} else {
				line += " " + st.mark(row.Cells[k].Mark) + " "
			}
		}
		fmt.Fprintln(w, line+" "+introduced(r, k, st.width-width(line)-1))
	}
	for _, row := range r.Rows {
		if row.Err != nil {
			fmt.Fprintln(w, st.paint(fmt.Sprintf("%s: ✗ %v", rowLabel(row), row.Err), sgrRed))
		}
		if row.Skip != "" {
			fmt.Fprintln(w, st.paint(fmt.Sprintf("%s: – not toured: %s", rowLabel(row), row.Skip), sgrCyan))
		}
	}
}

// introduced says what property k shows in the step that introduces it
// and, if room columns allow (0: no limit), in the step before: "tty pts/1
// → no tty".
func introduced(r *Report, k, room int) string {
	var before, at string
	for _, row := range r.Rows {
		if row.Err != nil {
			continue
		}
		switch row.Step.N {
		case k:
			before = row.Cells[k].Value
		case k + 1:
			at = row.Cells[k].Value
		}
	}
	text := before + " → " + at
	if before == "" || (room > 0 && width(text) > room) {
		text = "→ " + at
	}
	if room > 0 && width(text) > room {
		text = string([]rune(text)[:max(room-1, 0)]) + "…"
	}
	return text
}

// rowLabel names a row's step: "07 lock".
func rowLabel(row Row) string {
	return fmt.Sprintf("%02d %s", row.Step.N, row.Title())
}

// cellText is a cell as the table shows it, without colour: "ppid 1 ✓".
func cellText(c property.Cell) string {
	return c.Value + " " + symbol(c.Mark)
}

// renderRow draws one step's row. The cell on the diagonal, where the
// step introduces its property, is in brackets (and bold, in colour).
func renderRow(row Row, labelWidth int, widths []int, st style) string {
	line := pad(rowLabel(row), labelWidth)
	if row.Err != nil {
		return line + "  " + st.paint("✗ "+row.Err.Error(), sgrRed)
	}
	if row.Skip != "" {
		return line + "  " + st.paint("– not toured: "+row.Skip, sgrCyan)
	}
	for k, c := range row.Cells {
		open, close := " ", " "
		value := c.Value
		if k+1 == row.Step.N {
			open, close = "[", "]"
			value = st.paint(value, sgrBold)
		}
		plain := open + cellText(c) + close
		line += " " + open + value + " " + st.mark(c.Mark) + close + strings.Repeat(" ", widths[k]+2-width(plain))
	}
	return strings.TrimRight(line, " ")
}

// renderLegend says how the table was made and how to read it, and lists
// what it could not show and what went wrong.
func renderLegend(w io.Writer, r *Report, st style) {
	fmt.Fprintln(w, "[ ] the step that brings the property in. ✓ holds, ✗ does not, – not shown.")
	if r.hasMark(property.Classic) {
		fmt.Fprintln(w, "≈  as the classic fork-setsid-fork recipe leaves it; this tutorial asks more.")
	}
	if r.hasMark(property.Manager) {
		fmt.Fprintln(w, "M  done by the service manager: a new-style daemon no longer does it itself.")
	}
	fmt.Fprintf(w, "(tour) this tour, pid %d: a child subreaper, so orphans come to it, not init.\n", r.Tour)
	fmt.Fprintln(w, "Each step ran from a shell on a pseudo-terminal of its own, under umask 000,")
	fmt.Fprintf(w, "with a file open as descriptor %d and a pipe as descriptor %d. The tour\n", launch.LeakedFd, launch.PipeFd)
	fmt.Fprintf(w, "opened and closed %d connections, held one more open, started a second copy\n", launch.Opened)
	fmt.Fprintln(w, "(from step 07), hung up the terminal, and sent SIGTERM. `go run ./tour -step N`")
	fmt.Fprintln(w, "shows one step's evidence.")
	if r.hasNewStyle() {
		fmt.Fprintln(w, "A new-style step (it ships echod.service) ran as a service manager starts it:")
		fmt.Fprintln(w, "under systemd-socket-activate, in a session of its own, with $NOTIFY_SOCKET.")
	}
	var notes []string
	for _, row := range r.Rows {
		if row.Err != nil || row.Skip != "" {
			continue
		}
		for k, c := range row.Cells {
			if c.Mark == property.NotShown {
				notes = append(notes, fmt.Sprintf("%s, %d %s: not shown: %s", rowLabel(row), k+1, property.Properties[k].Column, c.Why))
			}
		}
		if row.Launch != nil {
			for _, p := range row.Launch.Problems {
				notes = append(notes, fmt.Sprintf("%s: %s", rowLabel(row), p))
			}
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, st.paint(n, sgrCyan))
	}
	fmt.Fprintf(w, "%d steps toured in %.1f s.\n", len(r.Rows), r.Elapsed.Round(100*time.Millisecond).Seconds())
}

// hasNewStyle reports whether the tour started a new-style daemon.
func (r *Report) hasNewStyle() bool {
	for _, row := range r.Rows {
		if row.Launch != nil && row.Launch.NewStyle && row.Skip == "" {
			return true
		}
	}
	return false
}

// hasMark reports whether any cell of the report has mark m.
func (r *Report) hasMark(m property.Mark) bool {
	for _, row := range r.Rows {
		for _, c := range row.Cells {
			if c.Mark == m {
				return true
			}
		}
	}
	return false
}
