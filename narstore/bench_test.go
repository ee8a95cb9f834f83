package narstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo"
)

// benchNAR returns a large NAR: the one named by $NARDEDUP_BENCH_NAR (a
// .nar.xz file), or a synthetic one with store paths.
func benchNAR(b *testing.B) []byte {
	if f := os.Getenv("NARDEDUP_BENCH_NAR"); f != "" {
		out, err := exec.Command("xz", "-dc", f).Output()
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	r := rand.New(rand.NewSource(1))
	hashes := []string{storeHash(r), storeHash(r), storeHash(r), storeHash(r)}
	var nar []byte
	for len(nar) < 32<<20 {
		nar = append(nar, makeNAR(b, int64(len(nar)), hashes)...)
	}
	return makeNAR(b, 9, hashes) // a valid NAR; the loop only sized the data
}

// BenchmarkOpen measures rebuilding a NAR from a warm local repository:
// chunk reads, decompression, BLAKE3 and SHA-256 checks, path restoring.
// frames-cached reads with a frame cache that holds the NAR's frames, as a
// server does for a NAR it served before: no decompression, chunks checked
// once.
func BenchmarkOpen(b *testing.B) {
	nar := benchNAR(b)
	ctx := context.Background()
	be, err := local.Open(filepath.Join(b.TempDir(), "repo"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := repo.Create(ctx, be, repo.DefaultConfig()); err != nil {
		b.Fatal(err)
	}
	rp, err := repo.Open(ctx, be, repo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(b.TempDir(), "i.db")}})
	if err != nil {
		b.Fatal(err)
	}
	cs := rp.Chunks()
	defer rp.Close()
	st := rp.NARs()
	sum := sha256.Sum256(nar)
	n := narstore.NAR{Hash: "h", NarHash: sum, NarSize: uint64(len(nar)), NarInfo: []byte("x")}
	if _, err := st.PutNAR(ctx, n, bytes.NewReader(nar), func(error) {}); err != nil {
		b.Fatal(err)
	}
	if err := cs.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		frames int64
	}{{"no-cache", 0}, {"frames-cached", 4 * int64(len(nar))}} {
		b.Run(bc.name, func(b *testing.B) {
			rrp, err := repo.Open(ctx, be, repo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(b.TempDir(), "r.db"), FrameCache: bc.frames}})
			if err != nil {
				b.Fatal(err)
			}
			rcs := rrp.Chunks()
			defer rrp.Close()
			rst := rrp.NARs()
			read := func() {
				rc, _, err := rst.Open(ctx, sum)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
			if bc.frames > 0 {
				read() // fill the cache
			}
			b.SetBytes(int64(len(nar)))
			b.ReportAllocs()
			for b.Loop() {
				read()
			}
			if bc.frames > 0 {
				if _, misses, _ := rcs.FrameCacheStats(); misses == 0 {
					b.Fatal("no frame was decoded")
				}
			}
		})
	}
}
