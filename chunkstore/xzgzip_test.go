package chunkstore_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/internal/gziptest"
)

// gzipped returns n bytes of files as GNU gzip leaves them: gzip members
// of text at levels 9 and 6, between short stretches of random bytes.
func gzipped(t *testing.T, seed uint64, n int) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 0))
	// Paragraphs the documents share, as changelogs share entries: gzip's
	// window of 32 KiB misses what xz finds.
	paras := make([][]byte, 40)
	for i := range paras {
		paras[i] = gziptest.Words(seed<<8|uint64(i), 4000)
	}
	var out bytes.Buffer
	for i := 0; out.Len() < n; i++ {
		var doc bytes.Buffer
		for doc.Len() < 100_000+r.IntN(200_000) {
			doc.Write(paras[r.IntN(len(paras))])
		}
		out.Write(gziptest.File(t, doc.Bytes(), []int{9, 6}[i%2]))
		out.Write(gziptest.Random(seed<<8|uint64(i), 1000+r.IntN(2000)))
	}
	return out.Bytes()[:n]
}

// xzGzipStore returns a store on be whose configuration allows xz frames
// with gzip streams expanded.
func xzGzipStore(t *testing.T, be backend.Backend) *chunkstore.Store {
	t.Helper()
	cfg := testConfig()
	cfg.XZFrames, cfg.XZGzipFrames = true, true
	return openStoreWith(t, be, cfg, filepath.Join(t.TempDir(), "index.db"))
}

// Chunks of gzip files copied into xz frames with their streams expanded
// take much less room than in plain xz frames, and read back through
// every reader.
func TestCopyXZGzipFrames(t *testing.T) {
	if !chunkstore.HasLibxz {
		t.Skip("built without cgo")
	}
	ctx := context.Background()
	data := gzipped(t, 1, 1536<<10)
	var plain int64
	for _, gz := range []bool{false, true} {
		be := mem.New()
		s := xzGzipStore(t, be)
		refs, _ := write(t, s, data)
		opts := chunkstore.CopyOptions{Codec: chunkstore.CodecXZ, GroupSize: 1 << 20, XZGzip: gz, Workers: 2}
		res, fresh := copyEverything(t, s, opts)
		codecs := codecsOf(t, s, fresh)
		if !gz {
			plain = res.StoredBytes
			if codecs[pack.CodecXZGzip] != 0 {
				t.Fatalf("xz+gzip frames without XZGzip: %v", codecs)
			}
			s.Close()
			continue
		}
		if codecs[pack.CodecXZGzip] == 0 || codecs[pack.CodecZstd] != 0 {
			t.Fatalf("new frames by codec %v, want xz+gzip ones", codecs)
		}
		if res.StoredBytes >= plain*3/4 {
			t.Errorf("xz+gzip frames take %d bytes, plain xz ones %d", res.StoredBytes, plain)
		}
		checkReadBack(t, s, refs, data)
		if got, err := readLocated(t, s, refs); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("located read: err %v, equal %v", err, bytes.Equal(got, data))
		}
		cached, err := chunkstore.Open(ctx, be, s.Config(), chunkstore.Options{
			IndexPath: filepath.Join(t.TempDir(), "cached.db"), FrameCache: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := readAll(t, cached, refs); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read through the frame cache: %v", err)
		}
		cached.Close()
		last := refs[len(refs)-1]
		if chunk, err := s.ReadChunk(ctx, last.ID); err != nil || chunkstore.Sum(chunk) != last.ID {
			t.Fatalf("last chunk: %v", err)
		}
		// And back into zstd frames.
		_, fresh = copyEverything(t, s, chunkstore.CopyOptions{})
		if got := codecsOf(t, s, fresh); got[pack.CodecXZGzip] != 0 || got[pack.CodecXZ] != 0 {
			t.Fatalf("copied back into %v", got)
		}
		checkReadBack(t, s, refs, data)
		s.Close()
	}
}

// A copier refuses to expand gzip streams where the repository's
// configuration allows xz frames but not those.
func TestCopyXZGzipNeedsConfig(t *testing.T) {
	if !chunkstore.HasLibxz {
		t.Skip("built without cgo")
	}
	s := xzStore(t, mem.New())
	defer s.Close()
	c, err := s.NewCopier(chunkstore.CopyOptions{Codec: chunkstore.CodecXZ, XZGzip: true})
	if err == nil || !strings.Contains(err.Error(), "xz_gzip_frames") {
		if c != nil {
			c.Close(context.Background())
		}
		t.Fatalf("xz+gzip frames in a repository that does not allow them: err %v", err)
	}
}

// Damage anywhere in an xz+gzip frame, in the expanded bytes or in its
// length, is ErrCorrupt naming the pack, never other bytes.
func TestDamagedXZGzipFrame(t *testing.T) {
	if !chunkstore.HasLibxz {
		t.Skip("built without cgo")
	}
	ctx := context.Background()
	data := gzipped(t, 2, 512<<10)
	for _, at := range []string{"length", "middle"} {
		be := mem.New()
		s := xzGzipStore(t, be)
		refs, _ := write(t, s, data)
		_, fresh := copyEverything(t, s, chunkstore.CopyOptions{Codec: chunkstore.CodecXZ, GroupSize: 2 << 20, XZGzip: true})
		toc, err := s.ReadTOC(ctx, fresh[0])
		if err != nil || toc.Frames[0].Codec != pack.CodecXZGzip {
			t.Fatalf("first frame: %v, %v", toc.Frames, err)
		}
		key := chunkstore.PackKey(fresh[0])
		b, _ := backend.ReadAll(ctx, be, key)
		f := toc.Frames[0]
		switch at {
		case "length": // the expanded group's length, after "NDXG"
			b[f.Offset+4]++
		case "middle":
			b[f.Offset+int64(f.CLen)/2] ^= 0x55
		}
		backend.PutBytes(ctx, be, key, b)
		r := openStoreWith(t, be, s.Config(), filepath.Join(t.TempDir(), "fresh.db"))
		if _, err := readAll(t, r, refs); !errors.Is(err, chunkstore.ErrCorrupt) || !strings.Contains(err.Error(), fresh[0].String()) {
			t.Fatalf("%s: read of a damaged frame: %v; want ErrCorrupt naming pack %s", at, err, fresh[0])
		}
		r.Close()
		s.Close()
	}
}
