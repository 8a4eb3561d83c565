package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// column is one measurement in the tables.
type column struct {
	head   string
	better string // "higher" or "lower"
	value  func(*Result) float64
	format string
}

var columns = []column{
	{"launch ms", "lower", func(r *Result) float64 { return ms(r.Launch) }, "%.1f"},
	{"launch CPU ms", "lower", func(r *Result) float64 { return ms(r.LaunchCPU) }, "%.1f"},
	{"RTT p50 µs", "lower", func(r *Result) float64 { return µs(r.RTT50) }, "%.0f"},
	{"RTT p99 µs", "lower", func(r *Result) float64 { return µs(r.RTT99) }, "%.0f"},
	{"MB/s", "higher", func(r *Result) float64 { return r.MBps }, "%.0f"},
	{"conn/s 1", "higher", func(r *Result) float64 { return r.Conns1 }, "%.0f"},
	{"conn/s 8", "higher", func(r *Result) float64 { return r.Conns8 }, "%.0f"},
	{"CPU µs/conn", "lower", func(r *Result) float64 { return µs(r.CPUPerConn) }, "%.0f"},
	{"PSS KiB/conn", "lower", func(r *Result) float64 { return r.PSSPerConn }, "%.0f"},
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func µs(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// Goals, as PERFORMANCE.md sets them for step 12.
const (
	goalMBps         = 1.0 // × the C server
	goalPSSPerConn   = 550 // KiB
	goalLaunchFactor = 4.0 // × the C server
)

// goal is one goal and how a result stands against it.
type goal struct {
	text string
	seen string
	met  bool
	know bool // false if the server to compare with was not measured
}

// goals checks r against the goals, with ratios to the C server and the
// minimal re-exec server of the same run.
func goals(r *Result, rep *Report) []goal {
	c := rep.find(cKey)
	re := rep.find(reexecKey)
	var g []goal
	if c != nil {
		ratio := r.MBps / c.MBps
		g = append(g, goal{"MB/s echoed ≥ 1.0× the C server", fmt.Sprintf("%.0f MB/s = %.2f×", r.MBps, ratio), ratio >= goalMBps, true})
	} else {
		g = append(g, goal{text: "MB/s echoed ≥ 1.0× the C server"})
	}
	if re != nil {
		ratio := r.Conns8 / re.Conns8
		g = append(g, goal{"connections/s (8 dialers) ≥ the minimal re-exec server", fmt.Sprintf("%.0f/s = %.2f×", r.Conns8, ratio), ratio >= 1, true})
	} else {
		g = append(g, goal{text: "connections/s (8 dialers) ≥ the minimal re-exec server"})
	}
	g = append(g, goal{"PSS per idle connection ≤ 550 KiB", fmt.Sprintf("%.0f KiB", r.PSSPerConn), r.PSSPerConn <= goalPSSPerConn, true})
	if c != nil {
		ratio := float64(r.Launch) / float64(c.Launch)
		g = append(g, goal{"launch to accepting ≤ 4× the C server", fmt.Sprintf("%.1f ms = %.1f×", ms(r.Launch), ratio), ratio <= goalLaunchFactor, true})
	} else {
		g = append(g, goal{text: "launch to accepting ≤ 4× the C server"})
	}
	return g
}

// find returns the result of the server key, if it was measured.
func (rep *Report) find(key string) *Result {
	for _, r := range rep.Results {
		if r.Server.Key == key && r.Err == nil && r.Server.Skip == "" {
			return r
		}
	}
	return nil
}

// goalSubjects are the results the goals are checked for: step 12 and the
// servers given with -server.
func (rep *Report) goalSubjects() []*Result {
	var list []*Result
	for _, r := range rep.Results {
		if r.Err == nil && r.Server.Skip == "" && (r.Server.Key == "step12" || !isBuiltin(r.Server.Key)) {
			list = append(list, r)
		}
	}
	return list
}

// cells returns a row of values, and a row of ratios to base (nil when the
// C server was not measured).
func cells(r, base *Result) (values, ratios []string) {
	for _, col := range columns {
		v := col.value(r)
		values = append(values, fmt.Sprintf(col.format, v))
		if base != nil {
			ratios = append(ratios, fmt.Sprintf("%.2f×", v/col.value(base)))
		}
	}
	return values, ratios
}

// notes lists the servers that were skipped or failed.
func (rep *Report) notes() []string {
	var n []string
	for _, r := range rep.Results {
		switch {
		case r.Server.Skip != "":
			n = append(n, fmt.Sprintf("%s: skipped, %s", r.Server.Name, r.Server.Skip))
		case r.Err != nil:
			n = append(n, fmt.Sprintf("%s: failed: %v", r.Server.Name, r.Err))
		}
	}
	return n
}

func (rep *Report) measured() []*Result {
	var list []*Result
	for _, r := range rep.Results {
		if r.Server.Skip == "" && r.Err == nil {
			list = append(list, r)
		}
	}
	return list
}

func (rep *Report) conditions() string {
	o := rep.Options
	return fmt.Sprintf("%s; %s run: medians of %d rounds, each of %d launches, %d round trips, %v streaming, %v dialing per dialer count, %d idle connections; took %v",
		rep.System, o.Description, o.Rounds, o.Launches, o.RoundTrips, o.Stream, o.Dialing, o.Idle, rep.Elapsed.Round(time.Second))
}

func heads() []string {
	h := []string{"server", "linked"}
	for _, c := range columns {
		h = append(h, c.head)
	}
	return h
}

// writeText prints the report as aligned plain text.
func writeText(w io.Writer, rep *Report) {
	base := rep.find(cKey)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(heads(), "\t")+"\t")
	var ratioRows [][]string
	for _, r := range rep.measured() {
		values, ratios := cells(r, base)
		fmt.Fprintln(tw, strings.Join(append([]string{r.Server.Name, r.Server.Linked}, values...), "\t")+"\t")
		if ratios != nil {
			ratioRows = append(ratioRows, append([]string{r.Server.Name, r.Server.Linked}, ratios...))
		}
	}
	tw.Flush()
	if ratioRows != nil {
		fmt.Fprintln(w, "\nAs ratios to the C server (launch, RTT, CPU and PSS: lower is better; MB/s, conn/s: higher):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, strings.Join(heads(), "\t")+"\t")
		for _, row := range ratioRows {
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		tw.Flush()
	}
	for _, r := range rep.goalSubjects() {
		fmt.Fprintf(w, "\nGoals for %s:\n", r.Server.Name)
		for _, g := range goals(r, rep) {
			fmt.Fprintf(w, "  %-58s %-18s %s\n", g.text, g.seen, verdict(g))
		}
	}
	if n := rep.notes(); n != nil {
		fmt.Fprintf(w, "\n%s\n", strings.Join(n, "\n"))
	}
	fmt.Fprintf(w, "\n%s\n", rep.conditions())
}

// writeMarkdown prints the report as Markdown tables.
func writeMarkdown(w io.Writer, rep *Report) {
	base := rep.find(cKey)
	row := func(cells []string) { fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | ")) }
	h := heads()
	row(h)
	row(append([]string{"---", "---"}, strings.Split(strings.Repeat("---:,", len(h)-2), ",")[:len(h)-2]...))
	var ratioRows [][]string
	for _, r := range rep.measured() {
		values, ratios := cells(r, base)
		row(append([]string{r.Server.Name, r.Server.Linked}, values...))
		if ratios != nil {
			ratioRows = append(ratioRows, append([]string{r.Server.Name, r.Server.Linked}, ratios...))
		}
	}
	if ratioRows != nil {
		fmt.Fprintln(w, "\nAs ratios to the C server (launch, RTT, CPU and PSS: lower is better; MB/s, conn/s: higher):")
		fmt.Fprintln(w)
		row(h)
		row(append([]string{"---", "---"}, strings.Split(strings.Repeat("---:,", len(h)-2), ",")[:len(h)-2]...))
		for _, r := range ratioRows {
			row(r)
		}
	}
	for _, r := range rep.goalSubjects() {
		fmt.Fprintf(w, "\nGoals for %s:\n\n", r.Server.Name)
		row([]string{"goal", "seen", "met"})
		row([]string{"---", "---:", "---"})
		for _, g := range goals(r, rep) {
			row([]string{g.text, g.seen, verdict(g)})
		}
	}
	if n := rep.notes(); n != nil {
		fmt.Fprintf(w, "\n%s\n", strings.Join(n, "\n\n"))
	}
	fmt.Fprintf(w, "\n%s\n", rep.conditions())
}

func verdict(g goal) string {
	switch {
	case !g.know:
		return "cannot tell (not measured)"
	case g.met:
		return "met"
	}
	return "NOT met"
}
