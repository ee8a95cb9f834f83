package chunkstore_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
)

// TestWriterReusesChunkers checks that a small stream does not pay for a
// chunker of its own: with the default configuration a new chunker and
// its chunk buffer are 768 KiB, more than the bound, where a store's
// writers reuse them.
func TestWriterReusesChunkers(t *testing.T) {
	s := openStoreWith(t, mem.New(), chunkstore.DefaultConfig(), filepath.Join(t.TempDir(), "index.db"))
	data := randomData(1, 1<<10)
	ctx := context.Background()
	stream := func() {
		w := s.NewWriter(ctx, func(chunkstore.Ref) error { return nil })
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	stream() // the first fills the pool
	const n = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		stream()
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / n
	t.Logf("%d bytes allocated per 1 KiB stream", per)
	if per > 512<<10 {
		t.Errorf("a 1 KiB stream allocated %d bytes, more than 512 KiB", per)
	}
}

// TestWriterReusesGroupBuffers checks that a stream of new data does not
// allocate the buffers its chunks are gathered and compressed in: grown
// anew, they would be about three times the stream, where a store's
// writers reuse them. The data is sparse so that the packs it fills stay
// small.
func TestWriterReusesGroupBuffers(t *testing.T) {
	s := openStoreWith(t, mem.New(), chunkstore.DefaultConfig(), filepath.Join(t.TempDir(), "index.db"))
	const size = 2 << 20
	ctx := context.Background()
	data := make([]byte, size)
	stream := func(seed int64) {
		clear(data)
		r := randomData(seed, size/64)
		for i, b := range r {
			data[i*64] = b
		}
		w := s.NewWriter(ctx, func(chunkstore.Ref) error { return nil })
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		res, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.NewBytes != size {
			t.Fatalf("stream %d stored %d new bytes, want %d", seed, res.NewBytes, size)
		}
	}
	stream(1) // the first fills the pool
	const n = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		stream(int64(2 + i))
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / n
	t.Logf("%d bytes allocated per 2 MiB stream", per)
	if per > size {
		t.Errorf("a 2 MiB stream of new data allocated %d bytes, more than itself", per)
	}
}
