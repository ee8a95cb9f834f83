package gc

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkLiveSet inserts a million random chunk ids, in the batches the
// mark makes, and reports the live set's file size per id.
func BenchmarkLiveSet(b *testing.B) {
	const n = 1_000_000
	r := rand.NewChaCha8([32]byte{1})
	for b.Loop() {
		l, err := newLiveSet(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		batch := make([]chunkstore.ID, 0, 4096)
		for i := 0; i < n; i++ {
			var id chunkstore.ID
			r.Read(id[:])
			batch = append(batch, id)
			if len(batch) == cap(batch) {
				if err := l.addChunks(batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if err := l.addChunks(batch); err != nil {
			b.Fatal(err)
		}
		if err := l.flush(); err != nil {
			b.Fatal(err)
		}
		fi, err := os.Stat(l.path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fi.Size())/n, "disk-bytes/chunk")
		var used int64
		l.db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
		b.ReportMetric(float64(used)/n, "used-bytes/chunk")
		b.ReportMetric(float64(l.chunks), "chunks")
		l.close()
	}
}
