package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/nixtest"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/source"
)

// createRepo creates a repository in a temporary directory, to be opened
// as each run needs.
func createRepo(t *testing.T) *repo {
	t.Helper()
	be, err := local.Open(t.TempDir())
	must(t, err)
	t.Cleanup(func() { be.Close() })
	_, err = nrepo.Create(context.Background(), be, nrepo.DefaultConfig())
	must(t, err)
	return &repo{be: be}
}

// ingestGen ingests generation k of corpus into r, opened with opts as a
// new process would.
func (r *repo) ingestGen(t *testing.T, corpus string, k int, opts chunkstore.Options) {
	t.Helper()
	ctx := context.Background()
	rp, err := nrepo.Open(ctx, r.be, nrepo.Options{Chunks: opts})
	must(t, err)
	defer rp.Close()
	src, err := source.Open(filepath.Join(corpus, "gen-"+itoa(int64(k))))
	must(t, err)
	if st, err := ingest.Run(ctx, src, rp, ingest.Options{}); err != nil {
		t.Fatalf("gen-%d: %v %v", k, err, st.Failures)
	}
}

// ingestGenerations ingests the generations of corpus one after another,
// each in a new process's view of the repository (a fresh Open), with
// names dedup or the index, and returns the repository's bytes after each.
func ingestGenerations(t *testing.T, corpus string, gens int, names bool) []int64 {
	t.Helper()
	r, idx := createRepo(t), t.TempDir()
	var sizes []int64
	for k := 1; k <= gens; k++ {
		opts := chunkstore.Options{IndexPath: filepath.Join(idx, "index.db")}
		if names {
			opts = chunkstore.Options{Candidates: ingest.DefaultCandidates}
		}
		r.ingestGen(t, corpus, k, opts)
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

// TestNamesDedupAfterIndex checks that an ingest with names dedup finds
// the NARs an ingest with the index stored: every ingest records names
// objects, so a repository may change its dedup between runs. Gen-2, a
// mass rebuild, must add less than 1% of its nar.xz bytes.
func TestNamesDedupAfterIndex(t *testing.T) {
	corpus := nixtest.Corpus(t, "small", 3)
	r := createRepo(t)
	r.ingestGen(t, corpus, 1, chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "index.db")})
	if len(r.keys(t, "names/")) == 0 {
		t.Fatal("an ingest with the index wrote no names objects")
	}
	size := r.bytes(t)
	r.ingestGen(t, corpus, 2, chunkstore.Options{Candidates: ingest.DefaultCandidates})
	var xz int64
	for _, ni := range gen(t, corpus, 2) {
		xz += sizeField(t, ni, "FileSize")
	}
	delta := r.bytes(t) - size
	t.Logf("gen-2 with names after gen-1 with the index added %d bytes, %.3f%% of its %d nar.xz bytes", delta, 100*float64(delta)/float64(xz), xz)
	if delta*100 >= xz {
		t.Errorf("gen-2 added %d bytes, %.2f%% of its nar.xz bytes; want < 1%%", delta, 100*float64(delta)/float64(xz))
	}
}

// TestNamesDedupAfterCollection checks that a collection that recompresses
// every pack (deleting them, leaving forward records) does not cost names
// dedup its candidates: the earlier manifests' locations lead through the
// forward records, and a rebuild still adds less than 1% of its nar.xz
// bytes.
func TestNamesDedupAfterCollection(t *testing.T) {
	if testing.Short() {
		t.Skip("recompresses the corpus: minutes on a loaded machine")
	}
	ctx := context.Background()
	corpus := nixtest.Corpus(t, "small", 3)
	r := createRepo(t)
	names := chunkstore.Options{Candidates: ingest.DefaultCandidates}
	r.ingestGen(t, corpus, 1, names)
	before := r.keys(t, "packs/")
	rp, err := nrepo.Open(ctx, r.be, nrepo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "gc.db")}})
	must(t, err)
	_, err = gc.Collect(ctx, rp, gc.Options{Grace: -1, TempDir: t.TempDir(), Recompress: gc.RecompressOptions{Enabled: true}})
	must(t, err)
	must(t, rp.Close())
	after := r.keys(t, "packs/")
	for k := range before {
		if after[k] {
			t.Fatalf("pack %s survived recompression: the test needs every pack replaced", k)
		}
	}
	size := r.bytes(t)
	r.ingestGen(t, corpus, 2, names)
	var xz int64
	for _, ni := range gen(t, corpus, 2) {
		xz += sizeField(t, ni, "FileSize")
	}
	delta := r.bytes(t) - size
	t.Logf("gen-2 after the collection added %d bytes, %.3f%% of its %d nar.xz bytes", delta, 100*float64(delta)/float64(xz), xz)
	if delta*100 >= xz {
		t.Errorf("gen-2 added %d bytes, %.2f%% of its nar.xz bytes; want < 1%%", delta, 100*float64(delta)/float64(xz))
	}
}
