package pack_test

import (
	"testing"

	"github.com/nardedup/nardedup/chunkstore/pack"
)

func TestTOCRoundTrip(t *testing.T) {
	toc := &pack.TOC{
		Frames: []pack.FrameInfo{{CLen: 10, ULen: 100}, {Offset: 10, CLen: 5, ULen: 50}},
		Chunks: []pack.ChunkInfo{{ID: pack.Sum([]byte("a")), Frame: 1, Offset: 10, Length: 40}},
	}
	got, err := pack.DecodeTOC(toc.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Frames) != 2 || got.Frames[1] != toc.Frames[1] || got.Chunks[0] != toc.Chunks[0] {
		t.Fatalf("got %+v; want %+v", got, toc)
	}
	bad := toc.Encode()
	for i := range bad {
		if _, err := pack.DecodeTOC(bad[:i]); err == nil {
			t.Fatalf("truncated at %d: accepted", i)
		}
	}
}

func FuzzDecodeTOC(f *testing.F) {
	toc := &pack.TOC{
		Frames: []pack.FrameInfo{{CLen: 10, ULen: 100}},
		Chunks: []pack.ChunkInfo{{Offset: 1, Length: 2}},
	}
	f.Add(toc.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := pack.DecodeTOC(b)
		if err != nil {
			return
		}
		again, err := pack.DecodeTOC(got.Encode())
		if err != nil || len(again.Chunks) != len(got.Chunks) {
			t.Fatalf("re-encoded table does not decode: %v", err)
		}
	})
}
