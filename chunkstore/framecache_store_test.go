package chunkstore_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
)

// TestFrameCacheReads reads streams whose chunks come from frames shared
// with each other through a frame cache: every read is right, the second
// read of a stream decodes nothing, and a cache smaller than one frame
// still reads right.
func TestFrameCacheReads(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	w := openStore(t, be, filepath.Join(t.TempDir(), "w"))
	a := randomData(1, 400<<10)
	b := append(append(bytes.Clone(a[100<<10:300<<10]), randomData(2, 100<<10)...), a[:50<<10]...)
	refsA, _ := write(t, w, a)
	refsB, _ := write(t, w, b)
	w.Close()
	for _, size := range []int64{1 << 20, 1 << 10} {
		s, err := chunkstore.Open(ctx, be, testConfig(), chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "r"), FrameCache: size})
		if err != nil {
			t.Fatal(err)
		}
		for round := range 2 {
			for i, c := range []struct {
				refs []chunkstore.Ref
				data []byte
			}{{refsA, a}, {refsB, b}} {
				got, err := readAll(t, s, c.refs)
				if err != nil || !bytes.Equal(got, c.data) {
					t.Fatalf("cache %d, round %d, stream %d: %d bytes, %v", size, round, i, len(got), err)
				}
			}
			if round == 0 {
				_, misses, _ := s.FrameCacheStats()
				before := misses
				readAll(t, s, refsB)
				if _, misses, _ = s.FrameCacheStats(); size >= 1<<20 && misses != before {
					t.Errorf("reading a stream again decoded %d frames", misses-before)
				}
			}
		}
		hits, misses, held := s.FrameCacheStats()
		t.Logf("cache %d: %d hits, %d misses, %d bytes held", size, hits, misses, held)
		if held > size {
			t.Errorf("cache of %d bytes holds %d", size, held)
		}
		if size >= 1<<20 && hits == 0 {
			t.Error("no hits")
		}
		s.Close()
	}
}
