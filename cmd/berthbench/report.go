package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
)

// targetKind says how a row's result is judged.
type targetKind int

const (
	noTarget     targetKind = iota
	ratioAtLeast            // berth/stock ≥ x (throughput, requests/s)
	ratioAtMost             // berth/stock ≤ x (times: 0.1 = ten times faster)
	berthBelow              // berth's median < x, in the row's unit
	limitAtMost             // berth's median ≤ x × the row's limit
)

type target struct {
	kind targetKind
	x    float64
}

func (t target) String() string {
	switch t.kind {
	case ratioAtLeast:
		return fmt.Sprintf("≥ %.3g×", t.x)
	case ratioAtMost:
		return fmt.Sprintf("≤ %.3g× (%.3g× faster)", t.x, 1/t.x)
	case berthBelow:
		return fmt.Sprintf("< %.3g", t.x)
	case limitAtMost:
		return fmt.Sprintf("≤ %.3g× limit", t.x)
	}
	return ""
}

// row is one measured quantity: a value per round for each server.
type row struct {
	section, name, unit string
	target              target
	berth, stock        []float64
	// limits is what the machine allowed in each round (see limits.go):
	// MB/s for a push, CPU s/GB of one SHA-256 pass for its cost.
	limits []float64
	note   string // replaces the values, e.g. "n/a (endpoint missing)"
}

// limitRatio is median(berth)/median(limits), NaN without both.
func (r *row) limitRatio() float64 {
	if len(r.berth) == 0 || len(r.limits) == 0 {
		return math.NaN()
	}
	return median(r.berth) / median(r.limits)
}

// ratio is median(berth)/median(stock), NaN when either is missing.
func (r *row) ratio() float64 {
	if len(r.berth) == 0 || len(r.stock) == 0 {
		return math.NaN()
	}
	return median(r.berth) / median(r.stock)
}

// verdict is "pass", "FAIL" or "" when the row has no target or values.
func (r *row) verdict() string {
	var ok bool
	switch r.target.kind {
	case ratioAtLeast, ratioAtMost:
		q := r.ratio()
		if math.IsNaN(q) {
			return ""
		}
		ok = (r.target.kind == ratioAtLeast && q >= r.target.x) || (r.target.kind == ratioAtMost && q <= r.target.x)
	case berthBelow:
		if len(r.berth) == 0 {
			return ""
		}
		ok = median(r.berth) < r.target.x
	case limitAtMost:
		q := r.limitRatio()
		if math.IsNaN(q) {
			return ""
		}
		ok = q <= r.target.x
	default:
		return ""
	}
	if ok {
		return "pass"
	}
	return "FAIL"
}

// report collects rows (in the order they are first added) and notes.
type report struct {
	mu    sync.Mutex
	rows  []*row
	notes []string
}

func (rp *report) row(section, name, unit string, t target) *row {
	for _, r := range rp.rows {
		if r.section == section && r.name == name {
			return r
		}
	}
	r := &row{section: section, name: name, unit: unit, target: t}
	rp.rows = append(rp.rows, r)
	return r
}

// add records one round's value of a row for server srv ("berth"/"stock").
func (rp *report) add(section, name, unit string, t target, srv string, v float64) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	r := rp.row(section, name, unit, t)
	if srv == "berth" {
		r.berth = append(r.berth, v)
	} else {
		r.stock = append(r.stock, v)
	}
}

// limit records one round's limit of a row.
func (rp *report) limit(section, name, unit string, t target, v float64) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	r := rp.row(section, name, unit, t)
	r.limits = append(r.limits, v)
}

// na records a row that could not be measured, with the reason.
func (rp *report) na(section, name, unit string, t target, why string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.row(section, name, unit, t).note = why
}

func (rp *report) notef(format string, args ...any) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.notes = append(rp.notes, fmt.Sprintf(format, args...))
}

// markdown renders one table per section, medians over rounds, then notes.
func (rp *report) markdown() string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	var b strings.Builder
	var sections []string
	for _, r := range rp.rows {
		if !slices.Contains(sections, r.section) {
			sections = append(sections, r.section)
		}
	}
	rows := slices.Clone(rp.rows)
	slices.SortStableFunc(rows, func(x, y *row) int {
		return slices.Index(sections, x.section) - slices.Index(sections, y.section)
	})
	section, withLimits := "", false
	for _, r := range rows {
		if r.section != section {
			section = r.section
			withLimits = slices.ContainsFunc(rows, func(x *row) bool { return x.section == section && len(x.limits) > 0 })
			fmt.Fprintf(&b, "\n### %s\n\n", section)
			if withLimits {
				b.WriteString("| case | unit | berth | stock | berth/stock | limit | berth/limit | target | result |\n")
				b.WriteString("|---|---|---:|---:|---:|---:|---:|---|---|\n")
			} else {
				b.WriteString("| case | unit | berth | stock | berth/stock | target | result |\n")
				b.WriteString("|---|---|---:|---:|---:|---|---|\n")
			}
		}
		cells := []string{r.name, r.unit, r.note, "", ""}
		if r.note == "" {
			cells = []string{r.name, r.unit, fmtMedian(r.berth), fmtMedian(r.stock), r.ratioText()}
		}
		if withLimits {
			if r.note != "" || len(r.limits) == 0 {
				cells = append(cells, "", "")
			} else {
				cells = append(cells, fmtMedian(r.limits), fmtRatio(r.limitRatio()))
			}
		}
		verdict := r.verdict()
		if r.note != "" {
			verdict = ""
		}
		cells = append(cells, r.target.String(), verdict)
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	if len(rp.notes) > 0 {
		b.WriteString("\n")
		for _, n := range rp.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// ratioText is the ratio, and for times how many times faster berth is.
func (r *row) ratioText() string {
	q := r.ratio()
	if r.target.kind == ratioAtMost && q > 0 && !math.IsNaN(q) {
		return fmt.Sprintf("%s (%s× faster)", fmtRatio(q), fmtNum(1/q))
	}
	return fmtRatio(q)
}

func fmtMedian(vs []float64) string {
	if len(vs) == 0 {
		return "—"
	}
	return fmtNum(median(vs))
}

func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		return addCommas(fmt.Sprintf("%.0f", v))
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func addCommas(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func fmtRatio(q float64) string {
	if math.IsNaN(q) || math.IsInf(q, 0) {
		return "—"
	}
	if q >= 10 {
		return fmt.Sprintf("%.1f×", q)
	}
	return fmt.Sprintf("%.3g×", q)
}

// median of vs (the mean of the middle two for an even count).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// percentile p (0..100) of vs by the nearest-rank method.
func percentile(vs []float64, p float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

const (
	beginMarker = "<!-- berthbench:begin (generated by `make bench`; text outside the markers is kept) -->"
	endMarker   = "<!-- berthbench:end -->"
)

// writeOut puts generated between the markers of the file at path, keeping
// what is written around them, or creates the file.
func writeOut(path, generated string) error {
	block := beginMarker + "\n" + generated + "\n" + endMarker
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := spliceGenerated(string(old), block)
	return os.WriteFile(path, []byte(doc), 0o644)
}

func spliceGenerated(old, block string) string {
	i, j := strings.Index(old, beginMarker), strings.Index(old, endMarker)
	if i < 0 || j < i {
		return "# Benchmarks: berth vs the stock registry\n\n" + block + "\n"
	}
	return old[:i] + block + old[j+len(endMarker):]
}
