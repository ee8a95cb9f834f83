package chunkstore_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
)

// BenchmarkReadCold reads from one cold frame of MaxFrameSize bytes,
// recompressed as gc does by default with each codec: "small" is one chunk
// from the middle of the frame (the time to the first byte of a small NAR
// stored there: a reader decodes the frame up to it), "large" the whole
// frame as one stream (a large NAR). The frame holds the bytes of the file
// NARDEDUP_BENCH_FRAME names (e.g. a frame of real NARs) or, without it,
// synthetic repetitive data.
func BenchmarkReadCold(b *testing.B) {
	ctx := context.Background()
	check := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	data := repetitive(4, chunkstore.MaxFrameSize, 1<<20)
	if name := os.Getenv("NARDEDUP_BENCH_FRAME"); name != "" {
		d, err := os.ReadFile(name)
		check(err)
		data = d[:min(len(d), chunkstore.MaxFrameSize)]
	}
	for _, codec := range []struct {
		name string
		opts chunkstore.CopyOptions
	}{
		{"zstd19", chunkstore.CopyOptions{ZstdLevel: 19}},
		{"xz", chunkstore.CopyOptions{Codec: chunkstore.CodecXZ, XZX86: true}},
	} {
		if !chunkstore.HasLibzstd || !chunkstore.HasLibxz {
			b.Skip("built without cgo")
		}
		be := mem.New()
		cfg := testConfig()
		cfg.PackSize = chunkstore.MaxFrameSize
		cfg.XZFrames = true
		s, err := chunkstore.Open(ctx, be, cfg, chunkstore.Options{IndexPath: filepath.Join(b.TempDir(), "index.db")})
		check(err)
		var refs []chunkstore.Ref
		w := s.NewWriter(ctx, func(r chunkstore.Ref) error { refs = append(refs, r); return nil })
		_, err = w.Write(data)
		check(err)
		_, err = w.Close()
		check(err)
		check(s.Flush(ctx))
		opts := codec.opts
		opts.GroupSize = chunkstore.MaxFrameSize
		c, err := s.NewCopier(opts)
		check(err)
		var old []chunkstore.ID
		check(s.Packs(func(id chunkstore.ID) error { old = append(old, id); return nil }))
		for _, p := range old {
			check(c.CopyPack(ctx, p, func(chunkstore.ID) bool { return true }))
		}
		res, err := c.Close(ctx)
		check(err)
		b.Logf("%s: %d bytes in %d frames", codec.name, res.StoredBytes, res.Frames)
		for _, p := range old {
			check(be.Delete(ctx, chunkstore.IndexKey(p)))
			check(be.Delete(ctx, chunkstore.PackKey(p)))
		}
		s.Close()
		r, err := chunkstore.Open(ctx, be, cfg, chunkstore.Options{IndexPath: filepath.Join(b.TempDir(), "fresh.db")})
		check(err)
		mid := refs[len(refs)/2]
		b.Run(codec.name+"/small", func(b *testing.B) {
			b.SetBytes(int64(mid.Size))
			for b.Loop() {
				_, err := r.ReadChunk(ctx, mid.ID)
				check(err)
			}
		})
		b.Run(codec.name+"/large", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				i := 0
				rd := r.NewReader(ctx, func() (chunkstore.Ref, error) {
					if i == len(refs) {
						return chunkstore.Ref{}, io.EOF
					}
					i++
					return refs[i-1], nil
				})
				_, err := io.Copy(io.Discard, rd)
				check(err)
				check(rd.Close())
			}
		})
		r.Close()
	}
}
