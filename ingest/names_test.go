package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/nixtest"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/source"
)

// ingestGenerations ingests the generations of corpus one after another,
// each in a new process's view of the repository (a fresh Open), with
// names dedup or the index, and returns the repository's bytes after each.
func ingestGenerations(t *testing.T, corpus string, gens int, names bool) []int64 {
	t.Helper()
	ctx := context.Background()
	dir, idx := t.TempDir(), t.TempDir()
	be, err := local.Open(dir)
	must(t, err)
	defer be.Close()
	_, err = nrepo.Create(ctx, be, nrepo.DefaultConfig())
	must(t, err)
	r := &repo{be: be}
	var sizes []int64
	for k := 1; k <= gens; k++ {
		opts := nrepo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(idx, "index.db")}}
		if names {
			opts.Chunks = chunkstore.Options{Candidates: ingest.DefaultCandidates}
		}
		rp, err := nrepo.Open(ctx, be, opts)
		must(t, err)
		src, err := source.Open(filepath.Join(corpus, "gen-"+itoa(int64(k))))
		must(t, err)
		st, err := ingest.Run(ctx, src, rp, ingest.Options{})
		if err != nil {
			t.Fatalf("gen-%d: %v %v", k, err, st.Failures)
		}
		must(t, rp.Close())
		sizes = append(sizes, r.bytes(t))
	}
	if names {
		if _, err := os.Stat(filepath.Join(idx, "index.db")); err == nil {
			t.Error("names dedup wrote a local index")
		}
	}
	return sizes
}

// TestNamesDedup checks that names dedup, with no local index, stores a
// mass rebuild (gen-2, in a new process) in less than 1% of its nar.xz
// bytes, and the whole corpus within 1% of what the index stores.
func TestNamesDedup(t *testing.T) {
	size, gens := "small", 3
	if os.Getenv("NARDEDUP_DEDUP_CORPUS") == "medium" {
		size, gens = "medium", 4
	}
	corpus := nixtest.Corpus(t, size, gens)
	byIndex := ingestGenerations(t, corpus, gens, false)
	byNames := ingestGenerations(t, corpus, gens, true)
	for k := range byIndex {
		t.Logf("after gen-%d: index %d bytes, names %d bytes (%+.3f%%)", k+1, byIndex[k], byNames[k],
			100*float64(byNames[k]-byIndex[k])/float64(byIndex[k]))
	}
	var xz int64
	for _, ni := range gen(t, corpus, 2) {
		xz += sizeField(t, ni, "FileSize")
	}
	if delta := byNames[1] - byNames[0]; delta*100 >= xz {
		t.Errorf("names: gen-2 added %d bytes, %.2f%% of its %d nar.xz bytes; want < 1%%", delta, 100*float64(delta)/float64(xz), xz)
	}
	if last := len(byIndex) - 1; byNames[last]*100 > byIndex[last]*101 {
		t.Errorf("names dedup stored %d bytes, the index %d: more than 1%% more", byNames[last], byIndex[last])
	}
}
