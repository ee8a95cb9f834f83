package pack_test

import (
	"bytes"
	"encoding/hex"
	"errors"
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

// A table of zstd frames only is written as packs always were ("NDT1",
// byte for byte), so that older readers read it.
func TestTOCZstdOnlyUnchanged(t *testing.T) {
	toc := &pack.TOC{
		Frames: []pack.FrameInfo{{CLen: 10, ULen: 100, Hash: pack.Sum([]byte("f"))}},
		Chunks: []pack.ChunkInfo{{ID: pack.Sum([]byte("a")), Offset: 1, Length: 2}},
	}
	const want = "4e44543101" + "0a64" + "9ab388bedc43eaf44150107d17ad090f6b1c34610f5740778ddb95d9f06576ee" +
		"01" + "17762fddd969a453925d65717ac3eea21320b66b54342fde15128d6caf21215f" + "000102"
	if got := hex.EncodeToString(toc.Encode()); got != want {
		t.Fatalf("zstd-only table:\n got %s\nwant %s", got, want)
	}
}

// A table with an xz frame names each frame's codec ("NDT2") and reads
// back with them; an unknown codec is corrupt.
func TestTOCCodecs(t *testing.T) {
	toc := &pack.TOC{
		Frames: []pack.FrameInfo{{CLen: 10, ULen: 100, Codec: pack.CodecXZ}, {Offset: 10, CLen: 5, ULen: 50}},
		Chunks: []pack.ChunkInfo{{ID: pack.Sum([]byte("a")), Frame: 0, Offset: 10, Length: 40}},
	}
	b := toc.Encode()
	if !bytes.HasPrefix(b, []byte("NDT2")) {
		t.Fatalf("table with an xz frame starts %q", b[:4])
	}
	got, err := pack.DecodeTOC(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Frames) != 2 || got.Frames[0] != toc.Frames[0] || got.Frames[1] != toc.Frames[1] {
		t.Fatalf("got %+v; want %+v", got.Frames, toc.Frames)
	}
	for i := range b {
		if _, err := pack.DecodeTOC(b[:i]); err == nil {
			t.Fatalf("truncated at %d: accepted", i)
		}
	}
	bad := bytes.Clone(b)
	bad[4+1+1+1+32] = 7 // the first frame's codec
	if _, err := pack.DecodeTOC(bad); !errors.Is(err, pack.ErrCorrupt) {
		t.Fatalf("unknown codec: %v, want ErrCorrupt", err)
	}
}

func FuzzDecodeTOC(f *testing.F) {
	toc := &pack.TOC{
		Frames: []pack.FrameInfo{{CLen: 10, ULen: 100}},
		Chunks: []pack.ChunkInfo{{Offset: 1, Length: 2}},
	}
	f.Add(toc.Encode())
	toc.Frames = append(toc.Frames, pack.FrameInfo{Offset: 10, CLen: 3, ULen: 9, Codec: pack.CodecXZ})
	f.Add(toc.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := pack.DecodeTOC(b)
		if err != nil {
			return
		}
		again, err := pack.DecodeTOC(got.Encode())
		if err != nil || len(again.Chunks) != len(got.Chunks) || len(again.Frames) != len(got.Frames) {
			t.Fatalf("re-encoded table does not decode: %v", err)
		}
		for i, f := range got.Frames {
			if again.Frames[i] != f {
				t.Fatalf("frame %d: %+v re-encoded as %+v", i, f, again.Frames[i])
			}
		}
	})
}
