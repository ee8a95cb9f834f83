package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nardedup/nardedup/bench/internal/units"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/narstore"
)

// runSweep ingests the first generations with every sweep configuration,
// each into a fresh repository, one after the other.
func (r *runner) runSweep(ctx context.Context) error {
	gens, corpus := r.opts.Generations, r.opts.Corpus
	if r.opts.SweepSource != nil {
		gens, corpus = r.opts.SweepSource, r.opts.SweepCorpus
	}
	n := r.opts.SweepGenerations
	if n <= 0 {
		n = 2
	}
	gens = gens[:min(n, len(gens))]
	pts := r.opts.Sweep
	if pts == nil {
		pts = OneAtATime()
	}
	sw := &Sweep{Corpus: corpus}
	urls := make(map[string]bool)
	for _, g := range gens {
		sw.Generations = append(sw.Generations, g.Name)
		es, err := scan(ctx, g.Source, narstore.DefaultConfig().StoreDir)
		if err != nil {
			return err
		}
		for _, e := range es {
			sw.NarBytes += e.NarSize
			if !urls[e.URL] {
				urls[e.URL] = true
				sw.XZBytes += e.FileSize
			}
		}
	}
	for i, p := range pts {
		if err := r.sweepRow(ctx, sw, p, gens, fmt.Sprintf("%d/%d", i+1, len(pts))); err != nil {
			return err
		}
	}
	if p, ok := sw.combined(); ok && r.opts.Sweep == nil {
		if err := r.sweepRow(ctx, sw, p, gens, "combined"); err != nil {
			return err
		}
	}
	sw.pick()
	r.rep.Sweep = sw
	return nil
}

// sweepRow measures one configuration and adds its row to sw.
func (r *runner) sweepRow(ctx context.Context, sw *Sweep, p SweepPoint, gens []Generation, step string) error {
	row, err := r.sweepOne(ctx, p, gens)
	if err != nil {
		return err
	}
	sw.Rows = append(sw.Rows, *row)
	r.logf("sweep %s: %s: stored %s, %.1f MB/s, %.1f CPU s", step, row.Config, units.MiB(row.Final()), row.MBps, row.CPU)
	return nil
}

// combined returns the default configuration with every knob set to the
// value that stored least when that knob alone was varied, if that is a
// configuration not measured yet.
func (sw *Sweep) combined() (SweepPoint, bool) {
	def := sw.DefaultRow()
	if def == nil {
		return SweepPoint{}, false
	}
	p := def.Point
	p.Knob = "combined"
	for _, knob := range []string{"chunk", "zstd", "group"} {
		best := def
		for i := range sw.Rows {
			if sw.Rows[i].Point.Knob == knob && sw.Rows[i].Final() < best.Final() {
				best = &sw.Rows[i]
			}
		}
		switch knob {
		case "chunk":
			p.AvgBits = best.Point.AvgBits
		case "zstd":
			p.ZstdLevel = best.Point.ZstdLevel
		default:
			p.GroupSize = best.Point.GroupSize
		}
	}
	for _, row := range sw.Rows {
		q := row.Point
		if q.AvgBits == p.AvgBits && q.ZstdLevel == p.ZstdLevel && q.GroupSize == p.GroupSize {
			return p, false
		}
	}
	return p, true
}

// pick marks the smallest row and the one that took the least CPU time
// (wall-clock time suffers more from other work on the machine).
func (sw *Sweep) pick() {
	sw.Best, sw.Fastest = 0, 0
	for i, row := range sw.Rows {
		if row.Final() < sw.Rows[sw.Best].Final() {
			sw.Best = i
		}
		if row.CPU < sw.Rows[sw.Fastest].CPU {
			sw.Fastest = i
		}
	}
}

// sweepOne ingests gens into a fresh repository configured by p.
func (r *runner) sweepOne(ctx context.Context, p SweepPoint, gens []Generation) (*SweepRow, error) {
	rp, err := r.scratchRepo(ctx, "sweep", p.config())
	if err != nil {
		return nil, err
	}
	defer rp.remove()
	defer rp.close()
	row := &SweepRow{Point: p, Config: repoConfig(rp.cfg)}
	for _, g := range gens {
		start, cpu := time.Now(), cpuSeconds()
		st, err := ingest.Run(ctx, g.Source, rp.rp, ingest.Options{Jobs: r.opts.Jobs})
		row.Seconds += time.Since(start).Seconds()
		row.CPU += cpuSeconds() - cpu
		if err != nil {
			return nil, fmt.Errorf("bench: sweep %s: ingest %s: %w (%v)", row.Config, g.Name, err, st.Failures)
		}
		row.Chunks += st.NewChunks
		row.NarRead += st.NarBytes
		objs, total, err := rp.objects(ctx)
		if err != nil {
			return nil, err
		}
		row.Stored = append(row.Stored, total)
		row.Objects = objs
	}
	row.Manifests = row.Objects["manifests"]
	if row.Seconds > 0 {
		row.MBps = float64(row.NarRead) / 1e6 / row.Seconds
	}
	return row, nil
}
