package report

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nardedup/nardedup/bench"
	"github.com/nardedup/nardedup/bench/internal/units"
	"github.com/nardedup/nardedup/cost"
)

// Markdown renders the report.
func Markdown(r *bench.Report) string {
	var b strings.Builder
	b.WriteString("# nardedup benchmark\n\n")
	fmt.Fprintf(&b, "Command: `%s`  \nStarted %s, took %s.\n\n", r.Command, r.Started.Format(time.RFC3339),
		(time.Duration(r.Elapsed * float64(time.Second))).Round(time.Second))
	mdMachine(&b, r)
	mdLimits(&b, r)
	mdGenerations(&b, r)
	if r.Compare != nil {
		mdCompare(&b, r)
	}
	if r.Peers != nil {
		mdPeers(&b, r)
	}
	if r.Speed != nil {
		mdSpeed(&b, r)
	}
	if r.Sweep != nil {
		mdSweep(&b, r)
	}
	mdCost(&b, r)
	return b.String()
}

func mdMachine(b *strings.Builder, r *bench.Report) {
	m := r.Machine
	b.WriteString("## Machine and corpus\n\n")
	fmt.Fprintf(b, "- CPU: %s, %d cores; memory %s; %s, %s/%s; xz decoder %s\n",
		orDash(m.CPUModel), m.CPUs, units.GiB(m.MemTotal), m.GoVersion, m.OS, m.Arch, orDash(m.XZ))
	fmt.Fprintf(b, "- Default repository config: %s\n", r.Default)
	fmt.Fprintf(b, "- Load average (1/5/15 min) at start %s, at end %s: the machine may be shared, so wall-clock speeds are noisy; "+
		"CPU seconds (this process and its xz decoders) are steadier\n", orDash(r.LoadStart), orDash(r.LoadEnd))
	if r.Corpus != nil {
		fmt.Fprintf(b, "- Corpus: `%s`, %d generations%s\n", r.Corpus.Dir, r.Corpus.Generations, params(r.Corpus.Params))
	}
	b.WriteString("\n")
}

// mdLimits writes the table of the figures set against their limits, if
// the run measured any.
func mdLimits(b *strings.Builder, r *bench.Report) {
	if len(r.Limits) == 0 {
		return
	}
	b.WriteString("## Limits\n\nEach figure against the limit beside it, both measured in this run (details in the sections below).\n\n" +
		"| figure | measured | limit | ratio | goal |\n|---|--:|---|--:|---|\n")
	for _, l := range r.Limits {
		cmp, met := "≤", "not met"
		if l.AtLeast {
			cmp = "≥"
		}
		if l.Met() {
			met = "met"
		}
		fmt.Fprintf(b, "| %s | %s | %s: %s | **%.2f×** | %s %.2f× (%s) |\n", l.Figure, limitValue(l.Measured, l.Unit), l.Limit,
			limitValue(l.Against, l.Unit), l.Ratio, cmp, l.Goal, met)
	}
	b.WriteString("\n")
}

// limitValue writes v, a figure in unit.
func limitValue(v float64, unit string) string {
	if unit == "bytes" {
		return units.MiB(int64(v))
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}

func params(p map[string]any) string {
	if len(p) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, p[k]))
	}
	return "; make-bucket params: " + strings.Join(parts, ", ")
}

func mdGenerations(b *strings.Builder, r *bench.Report) {
	fmt.Fprintf(b, "## Per generation\n\nOne repository, config: %s. Generations ingested in order, %d ingest jobs.\n\n", r.Totals.Config, r.Jobs)
	b.WriteString("| gen | paths | NAR | nar.xz | new nar.xz | NARs read | stored added | added / new xz | stored total | cum. nar.xz | cum. stored / xz | time | CPU s | MB/s | peak RSS |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	var added int64
	for _, g := range r.Generations {
		added += g.Added
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %d (%s) | %s | %s | %s | %s | %s | %.1fs | %.1f | %.1f | %s |\n",
			g.Name, g.Paths, units.MiB(g.NarBytes), units.MiB(g.XZBytes), units.MiB(g.NewXZ), g.NARsRead, units.MiB(g.NarRead), units.Size(g.Added),
			pct(g.Added, g.NewXZ), units.MiB(g.Stored), units.MiB(g.CumXZ), pct(g.Stored, g.CumXZ), g.Seconds, g.CPU, g.MBps, units.MiB(g.PeakRSS))
	}
	t := r.Totals
	fmt.Fprintf(b, "\nAfter all generations: %d distinct store paths, %s NAR (%d distinct NARs), %s of distinct nar.xz files; "+
		"the repository holds **%s** (%s of the nar.xz files; stored added sums to %s).\n\n",
		t.Paths, units.MiB(t.NarBytes), t.UniqueNARs, units.MiB(t.XZBytes), units.MiB(t.Stored), pct(t.Stored, t.XZBytes), units.MiB(added))
	b.WriteString("Repository objects by kind: ")
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(t.Objects)) {
		parts = append(parts, fmt.Sprintf("%s %s", k, units.Size(t.Objects[k])))
	}
	b.WriteString(strings.Join(parts, ", ") + ".  \n")
	fmt.Fprintf(b, "Local bbolt index file (derived data, not in the repository): %s.\n\n", units.Size(t.IndexFile))
	b.WriteString("Notes: *nar.xz* sums FileSize over the generation's narinfos (a standalone cache of it); *new nar.xz* counts only files " +
		"no earlier generation had (what a cumulative cache adds), and *cum. nar.xz* is the cumulative cache. *NARs read* are the NARs " +
		"not stored before (the others only add a narinfo); MB/s is their NAR bytes per wall-clock second, xz decoding included. " +
		"*stored* counts every repository object (packs, index, manifests, narinfos, config) from a listing of the backend.")
	if len(r.Generations) > 0 && r.Generations[0].PeakRSSOwn {
		b.WriteString(" Peak RSS is VmHWM of the whole process, reset before each generation (/proc/self/clear_refs).\n\n")
	} else {
		b.WriteString(" Peak RSS is VmHWM of the whole process since it started.\n\n")
	}
}

func mdCompare(b *strings.Builder, r *bench.Report) {
	c := r.Compare
	b.WriteString("## Storage of the same NARs\n\n| form |")
	for _, s := range c.Scopes {
		fmt.Fprintf(b, " %s | vs nar.xz |", s.Name)
	}
	b.WriteString("\n|---|" + strings.Repeat("--:|--:|", len(c.Scopes)) + "\n")
	rows := []struct {
		name string
		get  func(bench.Scope) int64
	}{
		{"raw NAR (every store path)", func(s bench.Scope) int64 { return s.NarBytes }},
		{"raw NAR (distinct NarHash)", func(s bench.Scope) int64 { return s.UniqueNar }},
		{"source nar.xz (distinct files)", func(s bench.Scope) int64 { return s.XZBytes }},
		{"zstd per NAR, best level ¹", func(s bench.Scope) int64 { return s.ZstdBest }},
		{"chunked + zstd groups, no path stripping ²", func(s bench.Scope) int64 { return s.NoStrip }},
		{"**nardedup**, default config", func(s bench.Scope) int64 { return s.Strip }},
	}
	for _, row := range rows {
		fmt.Fprintf(b, "| %s |", row.name)
		for _, s := range c.Scopes {
			fmt.Fprintf(b, " %s | %s |", units.MiB(row.get(s)), pct(row.get(s), s.XZBytes))
		}
		b.WriteString("\n")
	}
	rc := r.Recompressed
	mdRecompressed(b, c, rc, "**nardedup after `gc --recompress`** ³")
	mdRecompressed(b, c, r.RecompressedXZ, "**nardedup after `gc --recompress --cold-codec xz`** ⁴")
	fmt.Fprintf(b, "\n¹ %s.  \n² %s", c.ZstdMethod, c.NoStripMethod)
	if len(rc) == len(c.Scopes) && rc[0].Unavailable == "" {
		fmt.Fprintf(b, "  \n³ a copy of the default repository after the scope's last generation, collected with "+
			"`nardedup gc --recompress --grace 0 --recompress-jobs %d`: live chunks recompressed by libzstd at level %d in frames of up to %s.",
			rc[0].Workers, rc[0].Level, units.Exact(int64(rc[0].GroupSize)))
		for i, s := range c.Scopes {
			fmt.Fprintf(b, " For %s: %d packs, %s of chunks into %d frames in %.0f s (%.0f CPU s).", s.Name, rc[i].Packs,
				units.MiB(rc[i].LiveBytes), rc[i].Frames, rc[i].Seconds, rc[i].CPU)
		}
	}
	if xz := r.RecompressedXZ; len(xz) == len(c.Scopes) && xz[0].Unavailable == "" {
		b.WriteString("  \n⁴ the same copy collected with `nardedup gc --recompress --cold-codec xz`: xz frames (LZMA2 preset 9e, " +
			"after the x86 filter, as gc writes them by default).")
		for i, s := range c.Scopes {
			fmt.Fprintf(b, " For %s: %s of chunks into %d frames in %.0f s (%.0f CPU s).", s.Name,
				units.MiB(xz[i].LiveBytes), xz[i].Frames, xz[i].Seconds, xz[i].CPU)
		}
	}
	b.WriteString("\n\n")
}

// mdRecompressed writes the row of the recompressed copies rc, one per
// scope, if there are.
func mdRecompressed(b *strings.Builder, c *bench.Compare, rc []bench.Recompressed, name string) {
	if len(rc) != len(c.Scopes) {
		return
	}
	fmt.Fprintf(b, "| %s |", name)
	for i, s := range c.Scopes {
		if rc[i].Unavailable != "" {
			fmt.Fprintf(b, " (%s) | |", rc[i].Unavailable)
			continue
		}
		fmt.Fprintf(b, " **%s** | %s |", units.MiB(rc[i].Stored), pct(rc[i].Stored, s.XZBytes))
	}
	b.WriteString("\n")
}

// mdCost prices the repository after every generation against the
// source's nar.xz files, with the embedded price tables.
func mdCost(b *strings.Builder, r *bench.Report) {
	b.WriteString("## What it costs\n\n")
	opts := cost.Options{Traffic: cost.Traffic{NARsPerMonth: 1e6}, Target: cost.DefaultTarget()}
	cost.Write(b, cost.Markdown, r.Measured(), opts) // a strings.Builder does not fail
	b.WriteString("\n")
}

func mdSweep(b *strings.Builder, r *bench.Report) {
	sw := r.Sweep
	b.WriteString("## Configuration sweep\n\n")
	if sw.Corpus != nil {
		fmt.Fprintf(b, "Corpus `%s`, ", sw.Corpus.Dir)
	}
	fmt.Fprintf(b, "generations %s (%s NAR, %s nar.xz), each configuration in a fresh repository; "+
		"min chunk = avg/4, max = avg×4; pack size %s. ★ fewest stored bytes, ⚡ fewest CPU seconds. *chunks* are the residue chunks stored.\n\n",
		strings.Join(sw.Generations, ", "), units.MiB(sw.NarBytes), units.MiB(sw.XZBytes), units.Exact(int64(r.Default.PackSize)))
	b.WriteString("| | knob | avg chunk | zstd | group |")
	for _, g := range sw.Generations {
		fmt.Fprintf(b, " stored after %s |", g)
	}
	b.WriteString(" vs default | stored / xz | chunks | manifests | MB/s | CPU s |\n|---|---|--:|--:|--:|" +
		strings.Repeat("--:|", len(sw.Generations)) + "--:|--:|--:|--:|--:|--:|\n")
	def := sw.DefaultRow()
	for i, row := range sw.Rows {
		fmt.Fprintf(b, "| %s | %s | %s | %d | %s |", mark(sw, i), row.Point.Knob, units.Exact(int64(1)<<row.Point.AvgBits),
			row.Point.ZstdLevel, units.Exact(int64(row.Point.GroupSize)))
		for _, s := range row.Stored {
			fmt.Fprintf(b, " %s |", units.MiB(s))
		}
		vs := "-"
		if def != nil {
			vs = delta(row.Final(), def.Final())
		}
		fmt.Fprintf(b, " %s | %s | %d | %s | %.1f | %.1f |\n", vs, pct(row.Final(), sw.XZBytes), row.Chunks, units.Size(row.Manifests), row.MBps, row.CPU)
	}
	b.WriteString("\n" + knobSummary(sw) + "\n")
}
