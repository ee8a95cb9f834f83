package bench_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/bench"
	"github.com/nardedup/nardedup/bench/report"
	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/source"
)

// sampleGenerations writes the embedded sample cache and returns one
// generation per sample generation, listing its store paths, and the
// bucket directory.
func sampleGenerations(t testing.TB) ([]bench.Generation, string) {
	t.Helper()
	dir, err := sample.WriteBucket(filepath.Join(t.TempDir(), "bucket"))
	must(t, err)
	src, err := source.Open(dir)
	must(t, err)
	var gens []bench.Generation
	for k := 1; k <= 3; k++ {
		hashes, err := source.ListFrom(strings.NewReader(strings.Join(sample.Paths(k), "\n")))
		must(t, err)
		g, err := source.WithHashes(src, hashes)
		must(t, err)
		gens = append(gens, bench.Generation{Name: "gen-" + strconv.Itoa(k), Source: g})
	}
	return gens, dir
}

// reducedSweep is the default and two configurations that differ in every
// knob.
func reducedSweep() []bench.SweepPoint {
	pts := bench.OneAtATime()[:1]
	return append(pts,
		bench.SweepPoint{Knob: "grid", AvgBits: 14, ZstdLevel: 2, GroupSize: 1 << 20},
		bench.SweepPoint{Knob: "grid", AvgBits: 17, ZstdLevel: 4, GroupSize: 16 << 20})
}

func TestReportSample(t *testing.T) {
	gens, bucket := sampleGenerations(t)
	var log bytes.Buffer
	rep, err := bench.Run(context.Background(), bench.Options{
		Generations: gens, Sweep: reducedSweep(), WorkDir: t.TempDir(), Command: "test", Log: &log,
	})
	must(t, err)
	nar := narSizes(t, bucket, gens)
	checkReport(t, rep, nar, len(reducedSweep()))
	checkFiles(t, rep)
	checkPeers(t, rep)
	checkSpeed(t, rep, nar[gens[len(gens)-1].Name], bench.DefaultServeClients())
	if !strings.Contains(log.String(), "sweep 3/3") {
		t.Errorf("log lacks the last sweep step:\n%s", log.String())
	}
}

// TestReportCorpus runs the report on the small make-bucket corpus. It
// takes about half a minute, so it runs only with NARDEDUP_BENCH_CORPUS=1.
func TestReportCorpus(t *testing.T) {
	if os.Getenv("NARDEDUP_BENCH_CORPUS") == "" {
		t.Skip("set NARDEDUP_BENCH_CORPUS=1 to run the report on the small corpus")
	}
	gens, corpus, err := bench.CorpusGenerations(nixtest.Corpus(t, "small", 3))
	must(t, err)
	pts := reducedSweep()[:2]
	rep, err := bench.Run(context.Background(), bench.Options{
		Generations: gens, Corpus: corpus, Sweep: pts, WorkDir: t.TempDir(), Command: "test", SkipPeers: true,
	})
	must(t, err)
	want := make(map[string]map[string]int64)
	for _, g := range gens {
		want[g.Name] = narSizesOf(t, filepath.Join(corpus.Dir, g.Name))
	}
	checkReport(t, rep, want, len(pts))
	if rep.Corpus.Params["size"] != "small" {
		t.Errorf("corpus params %v", rep.Corpus.Params)
	}
}

// checkReport checks that the report is complete and consistent.
// nar maps generation name to store path hash to NarSize.
func checkReport(t *testing.T, rep *bench.Report, nar map[string]map[string]int64, sweepRows int) {
	t.Helper()
	var added int64
	union := make(map[string]int64)
	for _, g := range rep.Generations {
		var sum int64
		for h, n := range nar[g.Name] {
			sum += n
			union[h] = n
		}
		if g.NarBytes != sum || g.Paths != len(nar[g.Name]) {
			t.Errorf("%s: %d paths, %d NAR bytes; narinfos say %d, %d", g.Name, g.Paths, g.NarBytes, len(nar[g.Name]), sum)
		}
		added += g.Added
		if g.Stored != added || g.Stored <= 0 || g.XZBytes <= 0 || g.Seconds <= 0 {
			t.Errorf("%s: stored %d, added so far %d, xz %d, %fs", g.Name, g.Stored, added, g.XZBytes, g.Seconds)
		}
	}
	if len(rep.Generations) != len(nar) {
		t.Fatalf("%d generations in the report, want %d", len(rep.Generations), len(nar))
	}
	var unionBytes int64
	for _, n := range union {
		unionBytes += n
	}
	tot := rep.Totals
	if tot.Stored != added || tot.NarBytes != unionBytes || tot.Paths != len(union) || tot.IndexFile <= 0 {
		t.Errorf("totals %+v; want stored %d, NAR %d over %d paths", tot, added, unionBytes, len(union))
	}
	var kinds int64
	for _, n := range tot.Objects {
		kinds += n
	}
	if kinds != tot.Stored || tot.Objects["packs"] <= 0 || tot.Objects["manifests"] <= 0 || tot.Objects["narinfo"] <= 0 {
		t.Errorf("objects by kind %v do not add up to %d", tot.Objects, tot.Stored)
	}
	checkCompare(t, rep)
	checkSweep(t, rep, sweepRows)
	checkJSON(t, rep)
}

func checkCompare(t *testing.T, rep *bench.Report) {
	t.Helper()
	sc := rep.Compare.Scopes
	if len(sc) != 2 {
		t.Fatalf("%d comparison scopes, want 2", len(sc))
	}
	first, whole := rep.Generations[0], sc[1]
	if sc[0].NarBytes != first.NarBytes || sc[0].XZBytes != first.XZBytes || sc[0].Strip != first.Stored {
		t.Errorf("generation 1 scope %+v does not match the generation row %+v", sc[0], first)
	}
	if whole.NarBytes != rep.Totals.NarBytes || whole.Strip != rep.Totals.Stored || whole.XZBytes != rep.Totals.XZBytes ||
		whole.UniqueNARs != rep.Totals.UniqueNARs {
		t.Errorf("whole corpus scope %+v does not match the totals %+v", whole, rep.Totals)
	}
	for _, s := range sc {
		if s.ZstdBest <= 0 || s.ZstdBest >= s.UniqueNar || s.NoStrip <= 0 || s.UniqueNar > s.NarBytes {
			t.Errorf("scope %+v: implausible sizes", s)
		}
	}
	rc := rep.Recompressed
	if len(rc) != len(sc) {
		t.Fatalf("%d recompressed repositories, want one per scope (%d)", len(rc), len(sc))
	}
	for i, r := range rc {
		if r.Unavailable != "" {
			continue
		}
		// Everything is recompressed, into less space.
		if r.Packs == 0 || r.Frames == 0 || r.Stored <= 0 || r.Stored >= sc[i].Strip || r.CPU <= 0 {
			t.Errorf("%s after recompression: %+v; %d bytes before", r.Scope, r, sc[i].Strip)
		}
	}
	xz := rep.RecompressedXZ
	if len(xz) != len(sc) {
		t.Fatalf("%d repositories recompressed into xz, want one per scope (%d)", len(xz), len(sc))
	}
	for i, r := range xz {
		if r.Unavailable != "" {
			continue
		}
		if r.Codec != chunkstore.CodecXZ || r.Frames == 0 || r.Stored <= 0 || r.Stored >= sc[i].Strip {
			t.Errorf("%s after recompression into xz: %+v; %d bytes before", r.Scope, r, sc[i].Strip)
		}
	}
	var md strings.Builder
	md.WriteString(report.Markdown(rep))
	if !strings.Contains(md.String(), "after `gc --recompress`") {
		t.Error("the report has no row for the recompressed repository")
	}
	if xz[0].Unavailable == "" && !strings.Contains(md.String(), "after `gc --recompress --cold-codec xz`") {
		t.Error("the report has no row for the repository recompressed into xz")
	}
}

func checkSweep(t *testing.T, rep *bench.Report, rows int) {
	t.Helper()
	sw := rep.Sweep
	if len(sw.Rows) != rows || len(sw.Generations) != 2 {
		t.Fatalf("sweep: %d rows over %v, want %d rows over 2 generations", len(sw.Rows), sw.Generations, rows)
	}
	for i, row := range sw.Rows {
		if len(row.Stored) != 2 || row.Stored[0] <= 0 || row.Stored[1] < row.Stored[0] || row.Chunks <= 0 || row.Manifests <= 0 || row.MBps <= 0 {
			t.Errorf("sweep row %d: %+v", i, row)
		}
		if row.Final() < sw.Rows[sw.Best].Final() || row.CPU < sw.Rows[sw.Fastest].CPU {
			t.Errorf("sweep row %d beats the marked best %d / fastest %d", i, sw.Best, sw.Fastest)
		}
		if row.Config.ZstdLevel != row.Point.ZstdLevel || row.Config.AvgBits != row.Point.AvgBits ||
			row.Config.MinSize != 1<<(row.Point.AvgBits-2) || row.Config.MaxSize != 1<<(row.Point.AvgBits+2) {
			t.Errorf("sweep row %d: config %+v is not point %+v", i, row.Config, row.Point)
		}
	}
}

func checkJSON(t *testing.T, rep *bench.Report) {
	t.Helper()
	js, err := rep.JSON()
	must(t, err)
	back, err := bench.ParseJSON(js)
	must(t, err)
	if !reflect.DeepEqual(back, rep) {
		t.Errorf("report does not survive JSON:\n%s", js)
	}
}

// checkFiles writes the report and checks the Markdown names every part
// and the SVG files are well-formed.
func checkFiles(t *testing.T, rep *bench.Report) {
	t.Helper()
	dir := t.TempDir()
	must(t, report.WriteFiles(dir, rep))
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	must(t, err)
	for _, want := range []string{"## Machine and corpus", "## Per generation", "## Storage of the same NARs",
		"## Configuration sweep", "Local bbolt index file", "★", "gen-1 |", "gen-3 |", rep.Machine.GoVersion, "![sweep.svg](sweep.svg)"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if n := bytes.Count(md, []byte("\n| ")); n < len(rep.Generations)+len(rep.Sweep.Rows)+6 {
		t.Errorf("report.md has only %d table rows", n)
	}
	for _, name := range []string{"generations.svg", "compare.svg", "sweep.svg"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		must(t, err)
		dec := xml.NewDecoder(bytes.NewReader(data))
		for {
			if _, err := dec.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
}

// TestSweepOneAtATime runs the default sweep on generation 1 of the sample:
// every one-at-a-time point, then the combination of each knob's best
// value unless that was measured already.
func TestSweepOneAtATime(t *testing.T) {
	gens, _ := sampleGenerations(t)
	rep, err := bench.Run(context.Background(), bench.Options{
		Generations: gens[:1], SkipCompare: true, SkipPeers: true, SkipSpeed: true, WorkDir: t.TempDir(),
	})
	must(t, err)
	pts := bench.OneAtATime()
	rows := rep.Sweep.Rows
	if len(rows) < len(pts) || len(rows) > len(pts)+1 || len(rep.Sweep.Generations) != 1 {
		t.Fatalf("%d sweep rows over %v, want %d or %d over gen-1", len(rows), rep.Sweep.Generations, len(pts), len(pts)+1)
	}
	for i, p := range pts {
		if rows[i].Point != p {
			t.Errorf("row %d is %+v, want %+v", i, rows[i].Point, p)
		}
	}
	if len(rows) == len(pts) {
		return
	}
	c := rows[len(pts)].Point
	want := rows[0].Point
	best := map[string]int64{"chunk": rows[0].Final(), "zstd": rows[0].Final(), "group": rows[0].Final()}
	for _, row := range rows[1:len(pts)] {
		p := row.Point
		if row.Final() >= best[p.Knob] {
			continue
		}
		best[p.Knob] = row.Final()
		switch p.Knob {
		case "chunk":
			want.AvgBits = p.AvgBits
		case "zstd":
			want.ZstdLevel = p.ZstdLevel
		case "group":
			want.GroupSize = p.GroupSize
		}
	}
	want.Knob = "combined"
	if c != want {
		t.Errorf("combined point %+v, want %+v", c, want)
	}
	if c.Knob != "combined" || !strings.Contains(report.Markdown(rep), "- combined (") {
		t.Errorf("combined row %+v not reported", c)
	}
}

func TestFullGrid(t *testing.T) {
	pts := bench.FullGrid()
	count := make(map[string]int)
	for _, p := range pts {
		count[p.Knob]++
		c := bench.PointConfig(p)
		c.ID = "test"
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	a, l, g := len(bench.SweepAvgBits), len(bench.SweepLevels), len(bench.SweepGroups)
	all := a * l * g
	want := map[string]int{"default": 1, "chunk": a - 1, "zstd": l - 1, "group": g - 1}
	want["grid"] = all - 1 - (a - 1) - (l - 1) - (g - 1)
	if len(pts) != all || !reflect.DeepEqual(count, want) {
		t.Errorf("%d points, by knob %v; want %d, %v", len(pts), count, all, want)
	}
}
