package ingest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/source"
)

// BenchmarkIngest ingests generation 1 of the small corpus into a fresh
// repository per iteration. It reports the NAR throughput and the bytes
// the repository holds per nar.xz byte of the source.
func BenchmarkIngest(b *testing.B) {
	if testing.Short() {
		b.Skip("ingests the small corpus")
	}
	dir := filepath.Join(nixtest.Corpus(b, "small", 3), "gen-1")
	var narBytes, xzBytes int64
	for _, ni := range narinfos(b, dir) {
		narBytes += sizeField(b, ni, "NarSize")
		xzBytes += sizeField(b, ni, "FileSize")
	}
	src, err := source.Open(dir)
	must(b, err)
	b.SetBytes(narBytes)
	b.ResetTimer()
	var stored int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := newRepoIn(b, b.TempDir(), b.TempDir())
		b.StartTimer()
		st, err := ingest.Run(context.Background(), src, r.rp, ingest.Options{})
		if err != nil {
			b.Fatalf("%v %v", err, st.Failures)
		}
		b.StopTimer()
		stored = r.bytes(b)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(stored)/float64(xzBytes), "stored/xz")
	b.ReportMetric(float64(narBytes)*float64(b.N)/1e6/b.Elapsed().Seconds(), "NAR-MB/s")
}
