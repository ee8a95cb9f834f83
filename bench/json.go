package bench

import (
	"encoding/json"
	"fmt"
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
	r.limits()
	return &r, nil
}
