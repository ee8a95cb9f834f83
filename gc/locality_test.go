package gc_test

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/internal/backendtest"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
	nrepo "github.com/nardedup/nardedup/repo"
)

// readsPerNAR reads every live NAR through a store with a fresh local index
// and returns the pack reads per NAR.
func readsPerNAR(t *testing.T, be backend.Backend) float64 {
	t.Helper()
	ctx := context.Background()
	cb := &backendtest.GetCounter{Backend: be, Prefix: "packs/"}
	rp, err := nrepo.Open(ctx, cb, nrepo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "index.db")}})
	must(t, err)
	defer rp.Close()
	st := rp.NARs()
	seen := make(map[[32]byte]bool)
	err = st.ListNarInfos(ctx, func(h string) error {
		text, err := st.NarInfo(ctx, h)
		if err != nil {
			return err
		}
		nh := narHashOf(t, text)
		if seen[nh] {
			return nil
		}
		seen[nh] = true
		rc, _, err := st.Open(ctx, nh)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(sha256.New(), rc)
		return err
	})
	must(t, err)
	if len(seen) == 0 {
		t.Fatal("no NARs")
	}
	return float64(cb.Gets()) / float64(len(seen))
}

// TestRepackKeepsLocality forgets the older generations and half of the
// last, repacks nearly every pack, and checks that the NARs left are read
// back with no more pack reads than before.
func TestRepackKeepsLocality(t *testing.T) {
	t.Run("sample", func(t *testing.T) {
		gens := make([]string, 3)
		var paths [][]string
		for g := 1; g <= 3; g++ {
			gens[g-1] = bucket(t, sample.Paths(g))
			paths = append(paths, sample.Paths(g))
		}
		locality(t, smallConfig(), gens, paths)
	})
	t.Run("corpus", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds the small corpus")
		}
		dir := nixtest.Corpus(t, "small", 3)
		var gens []string
		var paths [][]string
		for g := 1; g <= 3; g++ {
			gens = append(gens, filepath.Join(dir, "gen-"+string(rune('0'+g))))
			paths = append(paths, readPaths(t, filepath.Join(dir, "gen-"+string(rune('0'+g))+".paths")))
		}
		locality(t, nrepo.DefaultConfig(), gens, paths)
	})
}

func locality(t *testing.T, cfg nrepo.Config, gens []string, paths [][]string) {
	r := newRepo(t, cfg)
	for _, dir := range gens {
		ingestInto(t, r.rp, dir)
	}
	// Keep every other path of the last generation: every pack loses
	// some of its chunks.
	last := make(map[string]bool)
	for i, p := range paths[len(paths)-1] {
		last[p] = i%2 == 0
	}
	var old []string
	for _, ps := range paths {
		for _, p := range ps {
			if !last[p] {
				old = append(old, p)
			}
		}
	}
	r.forget(t, old)
	before := readsPerNAR(t, r.be)
	o := opts(t)
	o.RepackBelow = 0.99
	rep, err := gc.Collect(context.Background(), r.rp, o)
	must(t, err)
	after := readsPerNAR(t, r.be)
	t.Logf("forgot %d paths; repacked %d of %d packs (%d chunks, %d bytes); deleted %d packs; repository %d -> %d bytes; pack reads per NAR %.2f -> %.2f",
		len(old), rep.RepackedPacks, rep.Before.Objects["packs"], rep.Copied.Chunks, rep.Copied.Bytes,
		rep.DeletedPacks, rep.Before.Bytes, rep.After.Bytes, before, after)
	if rep.RepackedPacks == 0 {
		t.Fatal("nothing was repacked: the test does not test repacking")
	}
	if after > before*1.05+0.5 {
		t.Errorf("pack reads per NAR grew from %.2f to %.2f", before, after)
	}
	r.check(t, r.open(t, filepath.Join(t.TempDir(), "index.db")))
}

func readPaths(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	must(t, err)
	return strings.Fields(string(data))
}
