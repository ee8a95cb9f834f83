package chunkstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

// xzStore returns a store on be whose configuration allows xz frames.
func xzStore(t *testing.T, be backend.Backend) *chunkstore.Store {
	t.Helper()
	cfg := testConfig()
	cfg.XZFrames = true
	return openStoreWith(t, be, cfg, filepath.Join(t.TempDir(), "index.db"))
}

// codecsOf returns the codecs of the frames of packs, by how many frames.
func codecsOf(t *testing.T, s *chunkstore.Store, packs []chunkstore.ID) map[pack.Codec]int {
	t.Helper()
	n := make(map[pack.Codec]int)
	for _, p := range packs {
		toc, err := s.ReadTOC(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range toc.Frames {
			n[f.Codec]++
		}
	}
	return n
}

// readLocated reads refs through a located reader, as a server does with
// a manifest's locations.
func readLocated(t *testing.T, s *chunkstore.Store, refs []chunkstore.Ref) ([]byte, error) {
	t.Helper()
	i := 0
	r := s.NewLocatedReader(context.Background(), func() (chunkstore.Ref, chunkstore.Location, error) {
		if i == len(refs) {
			return chunkstore.Ref{}, chunkstore.Location{}, io.EOF
		}
		ref := refs[i]
		i++
		var loc chunkstore.Location
		err := s.Locations(ref.ID, func(l chunkstore.Location) error { loc = l; return nil })
		return ref, loc, err
	})
	defer r.Close()
	return io.ReadAll(r)
}

// Chunks copied into xz frames read back through every reader: the
// streaming reader, the located reader, a frame cache, one chunk (from
// the head of a large frame) and a copier that copies them again into
// zstd frames.
func TestCopyXZFrames(t *testing.T) {
	if !chunkstore.HasLibxz {
		t.Skip("built without cgo")
	}
	ctx := context.Background()
	data := repetitive(4, 10<<20, 512<<10)
	for _, opts := range []chunkstore.CopyOptions{
		{Codec: chunkstore.CodecXZ, GroupSize: 16 << 20},
		{Codec: chunkstore.CodecXZ, GroupSize: 1 << 20, XZX86: true, Workers: 2},
	} {
		be := mem.New()
		s := xzStore(t, be)
		refs, wres := write(t, s, data)
		res, fresh := copyEverything(t, s, opts)
		if res.Bytes != int64(len(data)) || res.Chunks != len(refs) {
			t.Fatalf("%+v: copied %d chunks, %d bytes; want %d, %d", opts, res.Chunks, res.Bytes, len(refs), len(data))
		}
		if got := codecsOf(t, s, fresh); got[pack.CodecXZ] != res.Frames || got[pack.CodecZstd] != 0 {
			t.Fatalf("%+v: new frames by codec %v, want %d xz", opts, got, res.Frames)
		}
		if res.StoredBytes >= wres.StoredBytes*3/4 {
			t.Errorf("%+v: xz frames take %d bytes, ingest's %d", opts, res.StoredBytes, wres.StoredBytes)
		}
		checkReadBack(t, s, refs, data)
		if got, err := readLocated(t, s, refs); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%+v: located read: err %v, equal %v", opts, err, bytes.Equal(got, data))
		}
		cached, err := chunkstore.Open(ctx, be, s.Config(), chunkstore.Options{
			IndexPath: filepath.Join(t.TempDir(), "cached.db"), FrameCache: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		for round := range 2 {
			if got, err := readAll(t, cached, refs); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%+v: read through the frame cache, round %d: err %v", opts, round, err)
			}
		}
		if hits, _, _ := cached.FrameCacheStats(); hits == 0 {
			t.Errorf("%+v: the frame cache was not used", opts)
		}
		cached.Close()
		if chunk, err := s.ReadChunk(ctx, refs[0].ID); err != nil || chunkstore.Sum(chunk) != refs[0].ID {
			t.Fatalf("%+v: first chunk: %v", opts, err)
		}
		// And back into zstd frames.
		res, fresh = copyEverything(t, s, chunkstore.CopyOptions{})
		if got := codecsOf(t, s, fresh); got[pack.CodecXZ] != 0 {
			t.Fatalf("%+v: copied back into %v", opts, got)
		}
		checkReadBack(t, s, refs, data)
		s.Close()
	}
}

// A copier refuses xz frames where the repository does not allow them:
// older programs could not read them.
func TestCopyXZNeedsConfig(t *testing.T) {
	s := openStore(t, mem.New(), filepath.Join(t.TempDir(), "index.db"))
	defer s.Close()
	if c, err := s.NewCopier(chunkstore.CopyOptions{Codec: chunkstore.CodecXZ}); err == nil || !strings.Contains(err.Error(), "xz_frames") {
		if c != nil {
			c.Close(context.Background())
		}
		t.Fatalf("xz frames in a repository that does not allow them: err %v", err)
	}
	if _, err := s.NewCopier(chunkstore.CopyOptions{Codec: "lz4"}); err == nil {
		t.Fatal("unknown codec accepted")
	}
}

// A damaged xz frame is reported as a damaged zstd frame is: ErrCorrupt,
// naming its pack, by a reader and by CopyPack, which copies none of it.
func TestDamagedXZFrame(t *testing.T) {
	if !chunkstore.HasLibxz {
		t.Skip("built without cgo")
	}
	ctx := context.Background()
	be := mem.New()
	s := xzStore(t, be)
	defer s.Close()
	data := repetitive(5, 1<<20, 256<<10)
	refs, _ := write(t, s, data)
	_, fresh := copyEverything(t, s, chunkstore.CopyOptions{Codec: chunkstore.CodecXZ, GroupSize: 2 << 20})
	if len(fresh) != 1 {
		t.Fatalf("%d packs, want 1", len(fresh))
	}
	toc, err := s.ReadTOC(ctx, fresh[0])
	if err != nil {
		t.Fatal(err)
	}
	key := chunkstore.PackKey(fresh[0])
	b, _ := backend.ReadAll(ctx, be, key)
	if !bytes.HasPrefix(b, []byte("\xfd7zXZ\x00")) || toc.Frames[0].Codec != pack.CodecXZ {
		t.Fatalf("pack does not start with an xz frame: %x, %v", b[:8], toc.Frames[0].Codec)
	}
	f := toc.Frames[0]
	b[f.Offset+int64(f.CLen)/2] ^= 0x55
	if pack.Sum(b[f.Offset:f.Offset+int64(f.CLen)]) == f.Hash {
		t.Fatal("damage not seen by the frame's BLAKE3")
	}
	backend.PutBytes(ctx, be, key, b)
	r := openStoreWith(t, be, s.Config(), filepath.Join(t.TempDir(), "fresh.db"))
	defer r.Close()
	if _, err := readAll(t, r, refs); !errors.Is(err, chunkstore.ErrCorrupt) || !strings.Contains(err.Error(), fresh[0].String()) {
		t.Fatalf("read of a damaged xz frame: %v; want ErrCorrupt naming pack %s", err, fresh[0])
	}
	c, err := r.NewCopier(chunkstore.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var damaged *chunkstore.DamagedPackError
	if err := c.CopyPack(ctx, fresh[0], func(chunkstore.ID) bool { return true }); !errors.As(err, &damaged) || damaged.Frames != 1 {
		t.Fatalf("copy of a damaged xz frame: %v; want a DamagedPackError", err)
	}
	if res, _ := c.Close(ctx); res.Chunks != 0 {
		t.Fatalf("copied %d chunks of a damaged frame", res.Chunks)
	}
}
