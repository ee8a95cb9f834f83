package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// JSON returns the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bench: encode report: %w", err)
	}
	return append(data, '\n'), nil
}

// ParseJSON reads a report written by JSON.
func ParseJSON(data []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("bench: parse report: %w", err)
	}
	if r.Sweep != nil {
		// Knob names are derived data: name them as this version does.
		d := SweepPoint{AvgBits: r.Default.AvgBits, ZstdLevel: r.Default.ZstdLevel, GroupSize: r.Default.GroupSize}
		for i := range r.Sweep.Rows {
			if p := &r.Sweep.Rows[i].Point; p.Knob != "combined" {
				p.Knob = knobOf(d, *p)
			}
		}
		r.Sweep.pick()
	}
	return &r, nil
}

// WriteFiles writes report.md, report.json and the SVG charts into dir
// (created).
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	js, err := r.JSON()
	if err != nil {
		return err
	}
	files := map[string][]byte{"report.json": js}
	charts := r.charts()
	md := r.Markdown()
	for name, svg := range charts {
		files[name] = []byte(svg)
	}
	if len(charts) > 0 {
		md += "\n## Charts\n\n"
		for _, name := range chartOrder {
			if _, ok := charts[name]; ok {
				md += fmt.Sprintf("![%s](%s)\n\n", name, name)
			}
		}
	}
	files["report.md"] = []byte(md)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	return nil
}
