package bench_test

import (
	"context"
	"os"
	"testing"

	"github.com/nardedup/nardedup/bench"
	"github.com/nardedup/nardedup/internal/nixtest"
)

// BenchmarkIngestGen1 ingests generation 1 into a fresh repository with
// the default configuration per iteration, through bench.Run. It uses the
// embedded sample cache, or the small corpus with NARDEDUP_BENCH_CORPUS=1,
// and reports the stored bytes per nar.xz byte and the NAR throughput.
func BenchmarkIngestGen1(b *testing.B) {
	var gens []bench.Generation
	if os.Getenv("NARDEDUP_BENCH_CORPUS") != "" {
		all, _, err := bench.CorpusGenerations(nixtest.Corpus(b, "small", 3))
		must(b, err)
		gens = all[:1]
	} else {
		all, _ := sampleGenerations(b)
		gens = all[:1]
	}
	var row bench.GenRow
	var seconds float64
	for i := 0; i < b.N; i++ {
		rep, err := bench.Run(context.Background(), bench.Options{
			Generations: gens, SkipCompare: true, SkipSweep: true, SkipPeers: true, SkipSpeed: true, WorkDir: b.TempDir(),
		})
		must(b, err)
		row = rep.Generations[0]
		seconds += row.Seconds
	}
	b.SetBytes(row.NarBytes)
	b.ReportMetric(float64(row.Stored)/float64(row.XZBytes), "stored/xz")
	b.ReportMetric(float64(row.NarBytes)*float64(b.N)/1e6/seconds, "ingest-MB/s")
}
