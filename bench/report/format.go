package report

import (
	"fmt"
	"strings"

	"github.com/nardedup/nardedup/bench"
	"github.com/nardedup/nardedup/bench/internal/units"
)

// pct is a/b as a percentage.
func pct(a, b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}

// delta is the change from b to a in percent.
func delta(a, b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", 100*(float64(a)/float64(b)-1))
}

// deltaF is the change from b to a in percent.
func deltaF(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%+.0f%%", 100*(a/b-1))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// mark is the sweep table's marks for row i: ★ fewest stored bytes, ⚡
// fewest CPU seconds.
func mark(sw *bench.Sweep, i int) string {
	var m []string
	if i == sw.Best {
		m = append(m, "★")
	}
	if i == sw.Fastest {
		m = append(m, "⚡")
	}
	return strings.Join(m, " ")
}

// knobSummary says, for each knob varied alone, what each value changed in
// stored bytes and speed against the default.
func knobSummary(sw *bench.Sweep) string {
	def := sw.DefaultRow()
	if def == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("What each knob bought, against the default (stored bytes after the last generation; CPU seconds of the ingest):\n\n")
	names := map[string]string{"chunk": "average chunk size", "zstd": "zstd level", "group": "group size"}
	for _, knob := range []string{"chunk", "zstd", "group"} {
		var parts []string
		for _, row := range sw.Rows {
			if row.Point.Knob != knob {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s: %s stored, %s CPU", value(row.Point, knob),
				delta(row.Final(), def.Final()), deltaF(row.CPU, def.CPU)))
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "- %s (default %s): %s\n", names[knob], value(def.Point, knob), strings.Join(parts, "; "))
		}
	}
	for _, row := range sw.Rows {
		if row.Point.Knob == "combined" {
			fmt.Fprintf(&b, "- combined (each knob at its best value above: %s, %s, group %s): %s stored, %s CPU\n",
				value(row.Point, "chunk"), value(row.Point, "zstd"), value(row.Point, "group"),
				delta(row.Final(), def.Final()), deltaF(row.CPU, def.CPU))
		}
	}
	return b.String()
}

// value writes the value of knob in p.
func value(p bench.SweepPoint, knob string) string {
	switch knob {
	case "chunk":
		return units.Exact(int64(1) << p.AvgBits)
	case "zstd":
		return fmt.Sprintf("level %d", p.ZstdLevel)
	}
	return units.Exact(int64(p.GroupSize))
}
