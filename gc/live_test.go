package gc

import (
	"math/rand/v2"
	"os"
	"runtime"
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
		size, err := l.diskSize()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(size)/n, "disk-bytes/chunk")
		var used int64
		l.db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
		b.ReportMetric(float64(used)/n, "used-bytes/chunk")
		b.ReportMetric(float64(l.chunks), "chunks")
		l.close()
	}
}

// TestLiveSetLeavesNoFile: the live set's file has no name while it is in
// use (on Unix), so a collection that is killed leaves nothing in the
// temporary directory.
func TestLiveSetLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	l, err := newLiveSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	ids := make([]chunkstore.ID, 1000)
	for i := range ids {
		ids[i][0], ids[i][1] = byte(i), byte(i>>8)
	}
	if err := l.addChunks(ids); err != nil {
		t.Fatal(err)
	}
	if err := l.flush(); err != nil {
		t.Fatal(err)
	}
	has, done, err := l.reader()
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if !has(ids[999]) || has(chunkstore.ID{1, 2, 3}) {
		t.Error("the live set lost or invented a chunk")
	}
	if size, err := l.diskSize(); err != nil || size == 0 {
		t.Errorf("size %d, %v", size, err)
	}
	if runtime.GOOS != "windows" {
		if names, _ := os.ReadDir(dir); len(names) != 0 {
			t.Errorf("%s holds %v while the live set is open", dir, names)
		}
	}
}
