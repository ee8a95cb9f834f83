package index_test

import (
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/index"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

// A chunk stored in two packs is found in the first by pack id, or in
// the other when the first is avoided; removing a pack forgets its
// locations.
func TestLookupOrderAndAvoid(t *testing.T) {
	x, err := index.Open(filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	chunk := pack.Sum([]byte("chunk"))
	toc := &pack.TOC{
		Frames: []pack.FrameInfo{{CLen: 10, ULen: 100}},
		Chunks: []pack.ChunkInfo{{ID: chunk, Offset: 5, Length: 20}},
	}
	p1, p2 := pack.ID{1}, pack.ID{2}
	for _, p := range []pack.ID{p2, p1} {
		if err := x.AddPack(p, toc); err != nil {
			t.Fatal(err)
		}
	}
	loc, f, err := x.Lookup(chunk, nil)
	if err != nil || f != index.FoundOK || loc.Pack != p1 || loc.Offset != 5 || loc.Length != 20 || loc.FrameULen != 100 {
		t.Fatalf("Lookup: got %+v, %v, %v; want pack 1", loc, f, err)
	}
	loc, f, _ = x.Lookup(chunk, func(p pack.ID) bool { return p == p1 })
	if f != index.FoundOK || loc.Pack != p2 {
		t.Fatalf("Lookup avoiding pack 1: got %+v, %v; want pack 2", loc, f)
	}
	loc, f, _ = x.Lookup(chunk, func(pack.ID) bool { return true })
	if f != index.FoundAvoided || loc.Pack != p1 {
		t.Fatalf("Lookup avoiding all: got %+v, %v; want pack 1, avoided", loc, f)
	}
	if err := x.RemovePack(p1); err != nil {
		t.Fatal(err)
	}
	if packs, chunks, err := x.Stats(); err != nil || packs != 1 || chunks != 1 {
		t.Fatalf("Stats after removing a pack: got %d, %d, %v; want 1, 1", packs, chunks, err)
	}
	if loc, _, _ := x.Lookup(chunk, nil); loc.Pack != p2 {
		t.Fatalf("Lookup after removing pack 1: got %+v; want pack 2", loc)
	}
}
