package narstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/repo"
)

// TestReadWithoutIndex checks that a manifest locates every chunk, so that
// a reader of a format 2 repository, opened without a local index,
// rebuilds the NAR; a reader of a format 1 repository keeps an index.
func TestReadWithoutIndex(t *testing.T) {
	ctx := context.Background()
	for _, version := range []int{1, 2} {
		be := mem.New()
		cfg := repo.DefaultConfig()
		cfg.Version = version
		cfg.Chunks.Chunker.MinSize, cfg.Chunks.Chunker.AvgBits, cfg.Chunks.Chunker.MaxSize = 2<<10, 13, 32<<10
		cfg.Chunks.GroupSize, cfg.Chunks.PackSize = 256<<10, 1<<20
		_, err := repo.Create(ctx, be, cfg)
		must(t, err)
		w, err := repo.Open(ctx, be, repo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "w.db")}})
		must(t, err)
		r := rand.New(rand.NewSource(int64(version)))
		nars := [][]byte{makeNAR(t, 10, []string{storeHash(r), storeHash(r)}), makeNAR(t, 10, []string{storeHash(r)})}
		for _, nar := range nars {
			put(t, w.NARs(), storeHash(r), nar)
		}
		w.Close()

		rd, err := repo.Open(ctx, be, repo.Options{ReadOnly: true,
			Chunks: chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "r.db")}})
		must(t, err)
		_, _, err = rd.Chunks().IndexStats()
		if indexed := !errors.Is(err, chunkstore.ErrNoIndex); indexed != (version == 1) {
			t.Errorf("format %d: reader has a local index: %v (err %v)", version, indexed, err)
		}
		for i, nar := range nars {
			m, err := rd.NARs().Manifest(ctx, sha256.Sum256(nar))
			must(t, err)
			if m.Locations == nil {
				t.Errorf("format %d: manifest %d has no locations", version, i)
			}
			got, err := get(t, rd.NARs(), nar)
			if err != nil || !bytes.Equal(got, nar) {
				t.Errorf("format %d: NAR %d: err %v, equal %v", version, i, err, bytes.Equal(got, nar))
			}
		}
		rd.Close()
	}
}
