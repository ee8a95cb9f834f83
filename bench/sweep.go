package bench

import (
	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/repo"
)

// SweepPoint is one repository configuration of the sweep.
type SweepPoint struct {
	Knob      string `json:"knob"` // what differs from the default: "default", "chunk", "zstd", "group", "grid"
	AvgBits   int    `json:"avg_bits"`
	ZstdLevel int    `json:"zstd_level"`
	GroupSize int    `json:"group_size"`
}

// config is the repository configuration of p.
func (p SweepPoint) config() repo.Config {
	return sweepConfig(p.AvgBits, p.ZstdLevel, p.GroupSize)
}

// sweepAvgBits, sweepLevels and sweepGroups are the values the sweep tries.
var (
	sweepAvgBits = []int{14, 15, 16, 17}
	sweepLevels  = []int{1, 3, 4, 6}
	sweepGroups  = []int{1 << 20, 4 << 20, 16 << 20}
)

// OneAtATime returns the default configuration and, for each knob, every
// other value of that knob with the others at their defaults.
func OneAtATime() []SweepPoint {
	d := chunkstore.DefaultConfig()
	def := SweepPoint{Knob: "default", AvgBits: d.Chunker.AvgBits, ZstdLevel: d.ZstdLevel, GroupSize: d.GroupSize}
	pts := []SweepPoint{def}
	for _, v := range sweepAvgBits {
		if v != def.AvgBits {
			pts = append(pts, SweepPoint{Knob: "chunk", AvgBits: v, ZstdLevel: def.ZstdLevel, GroupSize: def.GroupSize})
		}
	}
	for _, v := range sweepLevels {
		if v != def.ZstdLevel {
			pts = append(pts, SweepPoint{Knob: "zstd", AvgBits: def.AvgBits, ZstdLevel: v, GroupSize: def.GroupSize})
		}
	}
	for _, v := range sweepGroups {
		if v != def.GroupSize {
			pts = append(pts, SweepPoint{Knob: "group", AvgBits: def.AvgBits, ZstdLevel: def.ZstdLevel, GroupSize: v})
		}
	}
	return pts
}

// knobOf names what p changes from the default d: "default", the one knob
// that differs, or "grid".
func knobOf(d, p SweepPoint) string {
	var diff []string
	if p.AvgBits != d.AvgBits {
		diff = append(diff, "chunk")
	}
	if p.ZstdLevel != d.ZstdLevel {
		diff = append(diff, "zstd")
	}
	if p.GroupSize != d.GroupSize {
		diff = append(diff, "group")
	}
	switch len(diff) {
	case 0:
		return "default"
	case 1:
		return diff[0]
	}
	return "grid"
}

// FullGrid returns every combination of the sweep values; a point that
// differs from the default in one knob is named after that knob.
func FullGrid() []SweepPoint {
	def := OneAtATime()[0]
	var pts []SweepPoint
	for _, a := range sweepAvgBits {
		for _, l := range sweepLevels {
			for _, g := range sweepGroups {
				p := SweepPoint{AvgBits: a, ZstdLevel: l, GroupSize: g}
				p.Knob = knobOf(def, p)
				pts = append(pts, p)
			}
		}
	}
	return pts
}

// Sweep is the result of ingesting the same generations with each
// configuration.
type Sweep struct {
	Corpus      *CorpusInfo `json:"corpus,omitempty"`
	Generations []string    `json:"generations"`
	NarBytes    int64       `json:"nar_bytes"` // NarSize of every narinfo of those generations
	XZBytes     int64       `json:"xz_bytes"`  // distinct files of those generations
	Rows        []SweepRow  `json:"rows"`
	Best        int         `json:"best"`    // row with the fewest stored bytes at the end
	Fastest     int         `json:"fastest"` // row with the fewest CPU seconds
}

// SweepRow is one configuration's result.
type SweepRow struct {
	Point     SweepPoint       `json:"point"`
	Config    RepoConfig       `json:"config"`
	Stored    []int64          `json:"stored"` // repository bytes after each generation
	Objects   map[string]int64 `json:"objects"`
	Chunks    int              `json:"chunks"` // residue chunks stored (ingest's NewChunks)
	Manifests int64            `json:"manifest_bytes"`
	NarRead   int64            `json:"nar_read_bytes"`
	Seconds   float64          `json:"seconds"` // ingest wall time, all generations
	CPU       float64          `json:"cpu_seconds"`
	MBps      float64          `json:"mb_per_s"`
}

// DefaultRow returns the row with the default configuration, or nil.
func (sw *Sweep) DefaultRow() *SweepRow {
	for i := range sw.Rows {
		if sw.Rows[i].Point.Knob == "default" {
			return &sw.Rows[i]
		}
	}
	return nil
}

// Final is the stored bytes after the last generation.
func (s SweepRow) Final() int64 { return s.Stored[len(s.Stored)-1] }
