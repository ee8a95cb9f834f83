package bench

import (
	"fmt"
	"strings"

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

func (sw *Sweep) mark(i int) string {
	var m []string
	if i == sw.Best {
		m = append(m, "★")
	}
	if i == sw.Fastest {
		m = append(m, "⚡")
	}
	return strings.Join(m, " ")
}

// defaultRow returns the row with the default configuration, or nil.
func (sw *Sweep) defaultRow() *SweepRow {
	for i := range sw.Rows {
		if sw.Rows[i].Point.Knob == "default" {
			return &sw.Rows[i]
		}
	}
	return nil
}

// knobSummary says, for each knob varied alone, what each value changed in
// stored bytes and speed against the default.
func (sw *Sweep) knobSummary() string {
	def := sw.defaultRow()
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
			parts = append(parts, fmt.Sprintf("%s: %s stored, %s CPU", row.Point.value(knob),
				delta(row.Final(), def.Final()), deltaF(row.CPU, def.CPU)))
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "- %s (default %s): %s\n", names[knob], def.Point.value(knob), strings.Join(parts, "; "))
		}
	}
	for _, row := range sw.Rows {
		if row.Point.Knob == "combined" {
			fmt.Fprintf(&b, "- combined (each knob at its best value above: %s, %s, group %s): %s stored, %s CPU\n",
				row.Point.value("chunk"), row.Point.value("zstd"), row.Point.value("group"),
				delta(row.Final(), def.Final()), deltaF(row.CPU, def.CPU))
		}
	}
	return b.String()
}

func (p SweepPoint) value(knob string) string {
	switch knob {
	case "chunk":
		return units.Exact(int64(1) << p.AvgBits)
	case "zstd":
		return fmt.Sprintf("level %d", p.ZstdLevel)
	}
	return units.Exact(int64(p.GroupSize))
}
