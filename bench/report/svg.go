package report

import (
	"fmt"
	"html"
	"strings"

	"github.com/nardedup/nardedup/bench"
	"github.com/nardedup/nardedup/bench/internal/units"
)

// chartOrder is the order charts appear in report.md.
var chartOrder = []string{"generations.svg", "compare.svg", "sweep.svg"}

type series struct {
	name   string
	color  string
	values []float64
}

var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759"}

// charts returns the SVG charts of the report by file name.
func charts(r *bench.Report) map[string]string {
	out := make(map[string]string)
	if len(r.Generations) > 0 {
		var labels []string
		xz, st := series{name: "new nar.xz", color: palette[1]}, series{name: "nardedup stored added", color: palette[0]}
		for _, g := range r.Generations {
			labels = append(labels, g.Name)
			xz.values = append(xz.values, toMiB(g.NewXZ))
			st.values = append(st.values, toMiB(g.Added))
		}
		out["generations.svg"] = barChart("What each generation adds (MiB)", labels, []series{xz, st})
	}
	if c := r.Compare; c != nil {
		labels := []string{"raw NAR", "nar.xz", "zstd per NAR", "chunked, no strip", "nardedup"}
		rc := r.Recompressed
		withRC := len(rc) == len(c.Scopes) && len(rc) > 0 && rc[0].Unavailable == ""
		if withRC {
			labels = append(labels, "nardedup, recompressed")
		}
		var ss []series
		for i, s := range c.Scopes {
			values := []float64{toMiB(s.NarBytes), toMiB(s.XZBytes), toMiB(s.ZstdBest), toMiB(s.NoStrip), toMiB(s.Strip)}
			if withRC {
				values = append(values, toMiB(rc[i].Stored))
			}
			ss = append(ss, series{name: s.Name, color: palette[i%len(palette)], values: values})
		}
		out["compare.svg"] = barChart("Storage of the same NARs (MiB)", labels, ss)
	}
	if sw := r.Sweep; sw != nil && len(sw.Rows) > 0 {
		var labels []string
		st := series{name: "stored after " + sw.Generations[len(sw.Generations)-1], color: palette[0]}
		for _, row := range sw.Rows {
			labels = append(labels, fmt.Sprintf("%s z%d g%s", units.Exact(int64(1)<<row.Point.AvgBits), row.Point.ZstdLevel, units.Exact(int64(row.Point.GroupSize))))
			st.values = append(st.values, toMiB(row.Final()))
		}
		out["sweep.svg"] = barChart("Sweep: stored bytes (MiB)", labels, []series{st})
	}
	return out
}

func toMiB(n int64) float64 { return float64(n) / (1 << 20) }

// barChart draws horizontal bars: one group per label, one bar per series.
func barChart(title string, labels []string, ss []series) string {
	const width, left, barH, gap, top = 760, 190, 14, 10, 48
	maxV := 0.0
	for _, s := range ss {
		for _, v := range s.values {
			maxV = max(maxV, v)
		}
	}
	if maxV == 0 {
		maxV = 1
	}
	scale := float64(width-left-90) / maxV
	height := top + len(labels)*(len(ss)*barH+gap) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	for i, s := range ss {
		x := left + i*170
		fmt.Fprintf(&b, `<rect x="%d" y="28" width="10" height="10" fill="%s"/><text x="%d" y="37">%s</text>`+"\n", x, s.color, x+14, html.EscapeString(s.name))
	}
	y := top
	for li, label := range labels {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-6, y+len(ss)*barH/2+4, html.EscapeString(label))
		for _, s := range ss {
			v := s.values[li]
			w := int(v*scale + 0.5)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/><text x="%d" y="%d">%.1f</text>`+"\n",
				left, y, w, barH-2, s.color, left+w+4, y+barH-4, v)
			y += barH
		}
		y += gap
	}
	b.WriteString("</svg>\n")
	return b.String()
}
