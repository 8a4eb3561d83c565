package main

import (
	"daemon-steps/internal/harness"
	"fmt"
	"io"
	"strings"
	"time"
)

// renderTable prints the report as a table, a row per step and a column per
// property, then says how to read it.
func renderTable(w io.Writer, r *Report, st style) {
	headers := make([]string, len(harness.Properties))
	widths := make([]int, len(harness.Properties))
	for k, p := range harness.Properties {
		headers[k] = fmt.Sprintf("%d %s", p.N, p.Column)
		widths[k] = width(headers[k])
	}
	labelWidth := width("step")
	for _, row := range r.Rows {
		labelWidth = max(labelWidth, width(rowLabel(row)))
		if row.Err != nil {
			continue
		}
		for k, c := range row.Cells {
			widths[k] = max(widths[k], width(cellText(c)))
		}
	}

	line := pad("step", labelWidth)
	for k, h := range headers {
		line += " " + pad(" "+h, widths[k]+2)
	}
	fmt.Fprintln(w, st.paint(strings.TrimRight(line, " "), sgrBold))
	for _, row := range r.Rows {
		fmt.Fprintln(w, renderRow(row, labelWidth, widths, st))
	}
	fmt.Fprintln(w)
	renderLegend(w, r, st)
}

// rowLabel names a row's step: "07 lock".
func rowLabel(row Row) string {
	return fmt.Sprintf("%02d %s", row.Step.N, row.Title())
}

// cellText is a cell as the table shows it, without colour: "ppid 1 ✓".
func cellText(c harness.Cell) string {
	return c.Value + " " + symbol(c.Mark)
}

// renderRow draws one step's row. The cell on the diagonal, where the
// step introduces its property, is in brackets (and bold, in colour).
func renderRow(row Row, labelWidth int, widths []int, st style) string {
	line := pad(rowLabel(row), labelWidth)
	if row.Err != nil {
		return line + "  " + st.paint("✗ "+row.Err.Error(), sgrRed)
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
	fmt.Fprintln(w, "[ ]  the step that introduces the property: from there on it holds (✓), before it it does not (✗); – not shown.")
	fmt.Fprintf(w, "(tour) this tour, pid %d: a child subreaper, so a daemon orphaned below it comes to it instead of init.\n", r.Tour)
	fmt.Fprintf(w, "Each step ran from a shell on a pseudo-terminal of its own, under umask 000, with a file open as descriptor %d;\n", harness.LeakedFd)
	fmt.Fprintf(w, "the tour opened and closed %d connections and held one more open, then started a second copy (from step 07),\n", harness.Opened)
	fmt.Fprintln(w, "hung up the terminal, and sent SIGTERM. `go run ./tour -step N` shows one step's evidence.")
	var notes []string
	for _, row := range r.Rows {
		if row.Err != nil {
			continue
		}
		for k, c := range row.Cells {
			if c.Mark == harness.NotShown {
				notes = append(notes, fmt.Sprintf("%s, %d %s: not shown: %s", rowLabel(row), k+1, harness.Properties[k].Column, c.Why))
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
