package chunkstore_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/internal/backendtest"
)

// TestReaderDecodesFrameOnce reads, from a store without a frame cache, a
// stream whose chunks go back and forth between two frames: each frame is
// read and decoded once.
func TestReaderDecodesFrameOnce(t *testing.T) {
	ctx := context.Background()
	be := &backendtest.GetCounter{Backend: mem.New(), Prefix: "packs/"}
	w := openStore(t, be, filepath.Join(t.TempDir(), "w"))
	data := randomData(1, 256<<10)
	refs, _ := write(t, w, data)
	w.Close()
	s, err := chunkstore.Open(ctx, be, testConfig(), chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "r")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Split the chunks by frame; keep two frames of several chunks.
	type frame struct {
		refs []chunkstore.Ref
		data [][]byte
	}
	var frames []*frame
	var last chunkstore.Location
	off := 0
	for _, ref := range refs {
		loc, err := s.Lookup(ctx, ref.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) == 0 || loc.Pack != last.Pack || loc.FrameOffset != last.FrameOffset {
			frames = append(frames, &frame{})
		}
		f := frames[len(frames)-1]
		f.refs, f.data = append(f.refs, ref), append(f.data, data[off:off+int(ref.Size)])
		last, off = loc, off+int(ref.Size)
	}
	if len(frames) < 2 || len(frames[0].refs) < 3 || len(frames[1].refs) < 3 {
		t.Fatalf("want two frames of 3 chunks or more, got %d frames", len(frames))
	}
	var stream []chunkstore.Ref
	var want []byte
	for i := range 3 {
		for _, f := range frames[:2] {
			stream, want = append(stream, f.refs[i]), append(want, f.data[i]...)
		}
	}
	before := be.Gets()
	got, err := readAll(t, s, stream)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, %v; want the %d bytes of the chunks", len(got), err, len(want))
	}
	if n := be.Gets() - before; n != 2 {
		t.Errorf("%d reads of packs for chunks of 2 frames, want 2", n)
	}
}
