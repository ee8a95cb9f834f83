package report

import (
	"fmt"
	"strings"

	"github.com/nardedup/nardedup/bench"
	"github.com/nardedup/nardedup/bench/internal/units"
)

func mdPeers(b *strings.Builder, r *bench.Report) {
	p := r.Peers
	b.WriteString("## Other deduplicating tools on the same NARs\n\n")
	b.WriteString(p.Method + "\n\n| tool | version | chunking, compression |")
	for _, g := range r.Generations {
		fmt.Fprintf(b, " stored after %s |", g.Name)
	}
	b.WriteString(" vs nardedup |\n|---|---|---|" + strings.Repeat("--:|", len(r.Generations)) + "--:|\n")
	fmt.Fprintf(b, "| **nardedup** | - | %s |", r.Totals.Config)
	for _, g := range r.Generations {
		fmt.Fprintf(b, " %s |", units.MiB(g.Stored))
	}
	b.WriteString(" 1.00× |\n")
	for _, row := range p.Rows {
		if !row.Ok() {
			fmt.Fprintf(b, "| %s | %s | %s |%s - |\n", row.Name, peerNote(row), row.Chunking, strings.Repeat(" - |", len(r.Generations)))
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s |", row.Name, row.Version, row.Chunking)
		for _, g := range row.Gens {
			fmt.Fprintf(b, " %s |", units.MiB(g.Stored))
		}
		fmt.Fprintf(b, " %s |\n", times(row.Stored, r.Totals.Stored))
	}
	b.WriteString("\n")
	if p.Best >= 0 {
		best := p.Rows[p.Best]
		fmt.Fprintf(b, "nardedup stores **%s**; the best peer, %s, stores %s: nardedup is **%s smaller** than the best peer.\n\n",
			units.MiB(r.Totals.Stored), best.Name, units.MiB(best.Stored), times(best.Stored, r.Totals.Stored))
	} else {
		b.WriteString("No peer was measured in this run, so there is no comparison.\n\n")
	}
	mdPeerTimes(b, r)
	b.WriteString("Commands (REPO is the tool's scratch repository, gen-K the generation):\n\n")
	for _, row := range p.Rows {
		fmt.Fprintf(b, "- %s: `%s`\n", row.Name, row.Command)
	}
	b.WriteString("\n")
}

// mdPeerTimes writes the wall-clock seconds of every backup next to
// nardedup's ingest times.
func mdPeerTimes(b *strings.Builder, r *bench.Report) {
	b.WriteString("Wall-clock seconds per generation (nardedup: ingest of the generation; peers: one backup), and peak RSS:\n\n| tool | init |")
	for _, g := range r.Generations {
		fmt.Fprintf(b, " %s |", g.Name)
	}
	b.WriteString(" total | CPU s | peak RSS |\n|---|--:|" + strings.Repeat("--:|", len(r.Generations)) + "--:|--:|--:|\n")
	mdNardedupTimes(b, "nardedup from nar.xz", r.Generations)
	if r.Speed != nil {
		mdNardedupTimes(b, "nardedup from uncompressed NARs", r.Speed.PlainGens)
	}
	for _, row := range r.Peers.Rows {
		if !row.Ok() {
			continue
		}
		var cpu float64
		fmt.Fprintf(b, "| %s | %.1f |", row.Name, row.InitSeconds)
		for _, g := range row.Gens {
			fmt.Fprintf(b, " %.1f |", g.Seconds)
			cpu += g.CPU
		}
		fmt.Fprintf(b, " %.1f | %.1f | %s |\n", row.Seconds, cpu, units.MiB(row.PeakRSS))
	}
	b.WriteString("\n")
}

func mdNardedupTimes(b *strings.Builder, name string, gens []bench.GenRow) {
	var secs, cpu float64
	var rss int64
	fmt.Fprintf(b, "| %s | - |", name)
	for _, g := range gens {
		fmt.Fprintf(b, " %.1f |", g.Seconds)
		secs, cpu, rss = secs+g.Seconds, cpu+g.CPU, max(rss, g.PeakRSS)
	}
	fmt.Fprintf(b, " %.1f | %.1f | %s |\n", secs, cpu, units.MiB(rss))
}

// times is a/b as a factor.
func times(a, b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}

func mdSpeed(b *strings.Builder, r *bench.Report) {
	sp := r.Speed
	b.WriteString("## Speed\n\n### Ingest\n\n| input | NARs | NAR bytes | time | CPU s | MB/s | peak RSS |\n|---|--:|--:|--:|--:|--:|--:|\n")
	rate := func(name string, rt bench.Rate) {
		fmt.Fprintf(b, "| %s | %d | %s | %.1fs | %.1f | **%.1f** | %s |\n", name, rt.NARs, units.MiB(rt.Bytes), rt.Seconds, rt.CPU, rt.MBps, units.MiB(rt.PeakRSS))
	}
	rate("nardedup ingest from nar.xz (per-generation table, summed)", sp.IngestXZ)
	rate("nardedup ingest from uncompressed NARs (file:// cache, Compression: none)", sp.IngestPlain)
	if sp.XZTool == "" {
		b.WriteString("| `xz -dc` ×2 | not installed (`apt-get install xz-utils`) | | | | | |\n")
	} else {
		fmt.Fprintf(b, "| `xz -dc` ×2 in parallel over halves of the same .nar.xz files (output bytes) | %d | %s | %.1fs | %.1f | **%.1f** | - |\n",
			sp.XZFiles, units.MiB(sp.XZDecode.Bytes), sp.XZDecode.Seconds, sp.XZDecode.CPU, sp.XZDecode.MBps)
	}
	fmt.Fprintf(b, "\nBy generation (MB/s of the NARs read; peak RSS is VmHWM of this process, reset before each):\n\n"+
		"| gen | NARs read | from nar.xz | from none | peak RSS, nar.xz | peak RSS, none |\n|---|--:|--:|--:|--:|--:|\n")
	for i, g := range r.Generations {
		if i < len(sp.PlainGens) {
			pg := sp.PlainGens[i]
			fmt.Fprintf(b, "| %s | %d | %.1f | %.1f | %s | %s |\n", g.Name, g.NARsRead, g.MBps, pg.MBps, units.MiB(g.PeakRSS), units.MiB(pg.PeakRSS))
		}
	}
	fmt.Fprintf(b, "\nThe xz row is the floor of decoding alone: %d `xz -dc` processes on the same %d cores, stdout to /dev/null.\n\n",
		2, r.Machine.CPUs)
	mdServe(b, sp)
}

func mdServe(b *strings.Builder, sp *bench.Speed) {
	fmt.Fprintf(b, "### Serve\n\nThe %d NARs of %s (%s), each fetched once per run, shared out among N concurrent clients over loopback "+
		"(Go HTTP client, keep-alive, bodies hashed and checked against NarHash, then discarded). *nardedup* is server.New with "+
		"Compression: none on the repository the uncompressed ingest built, opened anew for each client count (fresh local index, empty frame cache: "+
		"cold, but for the page cache), with a frame cache of %s, enough for the whole generation; *nardedup-warm* is the same server "+
		"fetched from again, its frames cached (*frames* counts the frame reads its cache answered / decoded); *static* is http.FileServer over the same uncompressed NAR files "+
		"(page cache warm), behind the same server.Serve limits. TTFB is request sent to first response byte. CPU and peak RSS are of "+
		"this process, clients included; the peak is reset before each run to the RSS of that moment, which includes memory the Go "+
		"runtime still holds from earlier runs (so the static rows mostly show what the nardedup runs left behind).\n\n", sp.ServeNARs, sp.ServeGen, units.MiB(sp.ServeBytes), units.MiB(sp.ServeFrameCache))
	b.WriteString("| server | clients | requests | bytes | time | MB/s | TTFB p50 | TTFB p99 | CPU s | peak RSS | frames |\n" +
		"|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range sp.Serve {
		frames := "-"
		if s.FrameCache > 0 {
			frames = fmt.Sprintf("%d / %d", s.FrameHits, s.FrameMisses)
		}
		fmt.Fprintf(b, "| %s | %d | %d | %s | %.2fs | **%.1f** | %.1f ms | %.1f ms | %.1f | %s | %s |\n", s.Server, s.Clients, s.Requests,
			units.MiB(s.Bytes), s.Seconds, s.MBps, 1e3*s.TTFB50, 1e3*s.TTFB99, s.CPU, units.MiB(s.PeakRSS), frames)
	}
	b.WriteString("\n")
}

// peerNote explains a peer's row when it was not measured.
func peerNote(p bench.PeerRow) string {
	switch {
	case !p.Installed:
		return fmt.Sprintf("not installed (`%s`)", p.Install)
	case p.Error != "":
		return "failed: " + p.Error
	}
	return ""
}
