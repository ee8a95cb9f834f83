package ingest_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/source"
)

// checkAllIngested checks a run without failures that stored or linked
// every narinfo of the cache in dir, byte for byte.
func checkAllIngested(t *testing.T, r *repo, dir string, st *ingest.Stats, err error) {
	t.Helper()
	if err != nil || st.Failed != 0 {
		t.Fatalf("Run: %v; failures %v", err, st.Failures)
	}
	nis := narinfos(t, dir)
	if st.Seen != len(nis) || st.Skipped+st.Committed+st.Linked != len(nis) {
		t.Errorf("seen %d, skipped %d, committed %d, linked %d; want %d in all",
			st.Seen, st.Skipped, st.Committed, st.Linked, len(nis))
	}
	checkNarInfosIdentical(t, r, nis)
}

// checkNarInfosIdentical checks that every narinfo is stored byte for byte
// as the source has it, signatures and all.
func checkNarInfosIdentical(t *testing.T, r *repo, nis map[string][]byte) {
	t.Helper()
	for h, want := range nis {
		got, err := r.st.NarInfo(context.Background(), h)
		if err != nil {
			t.Errorf("narinfo %s: %v", h, err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("narinfo %s stored as\n%s\nwant\n%s", h, got, want)
		}
		if nixtest.Field(want, "Sig") == "" {
			t.Errorf("narinfo %s of the source has no signature", h)
		}
	}
}

func TestSampleNarInfosIdentical(t *testing.T) {
	dir := sampleBucket(t)
	r := newRepo(t)
	st, err := r.ingestDir(t, dir)
	checkAllIngested(t, r, dir, st, err)
	if st.Skipped != 0 || st.Committed == 0 {
		t.Errorf("fresh repository: skipped %d, committed %d", st.Skipped, st.Committed)
	}
}

// TestHTTPSource ingests the sample served over HTTP, listed from its store
// paths.
func TestHTTPSource(t *testing.T) {
	dir := sampleBucket(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	var paths []string
	for gen := 1; gen <= 3; gen++ {
		paths = append(paths, sample.Paths(gen)...)
	}
	hashes, err := source.ListFrom(strings.NewReader(strings.Join(paths, "\n")))
	must(t, err)
	u, err := url.Parse(srv.URL)
	must(t, err)
	src, err := source.WithHashes(source.NewHTTP(u, srv.Client()), hashes)
	must(t, err)
	r := newRepo(t)
	st, err := ingest.Run(context.Background(), src, r.rp, ingest.Options{})
	checkAllIngested(t, r, dir, st, err)
	if st.Committed+st.Linked != len(hashes) {
		t.Errorf("committed %d, linked %d; want %d", st.Committed, st.Linked, len(hashes))
	}
}

// TestIdempotent ingests the small corpus twice: the second run skips
// everything and stores nothing.
func TestIdempotent(t *testing.T) {
	bucket := filepath.Join(nixtest.Corpus(t, "small", 3), "bucket")
	r := newRepo(t)
	st, err := r.ingestDir(t, bucket)
	checkAllIngested(t, r, bucket, st, err)
	t.Logf("first run: %d paths, %d NARs, %.1f MB NAR in %v (%.0f MB/s)",
		st.Seen, st.NARs, float64(st.NarBytes)/1e6, st.Elapsed.Round(time.Millisecond), st.MBps())
	// A NAR shared by several store paths is read once, the others linked.
	distinct := make(map[[32]byte]bool)
	for _, text := range narinfos(t, bucket) {
		distinct[narHash(t, text)] = true
	}
	if st.NARs != len(distinct) || st.Linked != st.Seen-len(distinct) {
		t.Errorf("first run read %d NARs and linked %d paths; want %d and %d", st.NARs, st.Linked, len(distinct), st.Seen-len(distinct))
	}
	before := r.bytes(t)
	st, err = r.ingestDir(t, bucket)
	checkAllIngested(t, r, bucket, st, err)
	after := r.bytes(t)
	t.Logf("second run: %d paths skipped in %v", st.Skipped, st.Elapsed.Round(time.Millisecond))
	if st.Skipped != st.Seen || st.NARs != 0 || st.Linked != 0 || st.StoredBytes != 0 {
		t.Errorf("second run: %+v; want every path skipped", st)
	}
	if after != before {
		t.Errorf("second run grew the repository from %d to %d bytes", before, after)
	}
}

// gen returns the narinfos of generation k of the corpus.
func gen(t *testing.T, corpus string, k int) map[string][]byte {
	return narinfos(t, filepath.Join(corpus, "gen-"+itoa(int64(k))))
}

// TestResume ingests generation 1 of the corpus, then the whole bucket.
func TestResume(t *testing.T) {
	corpus := nixtest.Corpus(t, "small", 3)
	bucket := filepath.Join(corpus, "bucket")
	r := newRepo(t)
	st, err := r.ingestDir(t, filepath.Join(corpus, "gen-1"))
	if err != nil {
		t.Fatalf("gen-1: %v %v", err, st.Failures)
	}
	gen1 := gen(t, corpus, 1)
	old := make(map[[32]byte]bool) // NarHashes stored by gen-1
	for _, ni := range gen1 {
		old[narHash(t, ni)] = true
	}
	fresh := make(map[[32]byte]bool) // NarHashes the bucket adds
	linkable := 0                    // new paths with a NAR of gen-1
	for h, ni := range narinfos(t, bucket) {
		switch nh := narHash(t, ni); {
		case gen1[h] != nil:
		case old[nh]:
			linkable++
		default:
			fresh[nh] = true
		}
	}
	manifests := len(r.keys(t, "manifests/"))
	st, err = r.ingestDir(t, bucket)
	checkAllIngested(t, r, bucket, st, err)
	t.Logf("resume: skipped %d, linked %d, committed %d (%d new paths share a NAR of gen-1)",
		st.Skipped, st.Linked, st.Committed, linkable)
	if st.Skipped != len(gen1) {
		t.Errorf("skipped %d; want the %d paths of gen-1", st.Skipped, len(gen1))
	}
	if linkable == 0 || st.Linked < linkable {
		t.Errorf("linked %d; want at least the %d (> 0) new paths whose NAR gen-1 stored", st.Linked, linkable)
	}
	if got := len(r.keys(t, "manifests/")) - manifests; got != len(fresh) {
		t.Errorf("resume added %d manifests; want %d, one per NAR gen-1 lacks", got, len(fresh))
	}
}

// TestDedupAcrossGenerations checks that a mass rebuild (gen-2) adds less
// than 1% of its compressed NAR bytes to a repository holding gen-1.
func TestDedupAcrossGenerations(t *testing.T) {
	corpus := nixtest.Corpus(t, "small", 3)
	r := newRepo(t)
	st, err := r.ingestDir(t, filepath.Join(corpus, "gen-1"))
	if err != nil {
		t.Fatalf("gen-1: %v %v", err, st.Failures)
	}
	before := r.bytes(t)
	dir2 := filepath.Join(corpus, "gen-2")
	st, err = r.ingestDir(t, dir2)
	checkAllIngested(t, r, dir2, st, err)
	delta := r.bytes(t) - before
	var xz int64
	for _, ni := range gen(t, corpus, 2) {
		xz += sizeField(t, ni, "FileSize")
	}
	t.Logf("gen-1: %d repository bytes; gen-2 (%d paths, %d nar.xz bytes, %d NAR bytes) added %d bytes: %.3f%% of its nar.xz bytes (stats: %d stored, %d new chunks)",
		before, st.Seen, xz, st.NarBytes, delta, 100*float64(delta)/float64(xz), st.StoredBytes, st.NewChunks)
	if st.Skipped != 0 || st.Committed+st.Linked != st.Seen {
		t.Errorf("gen-2: %+v; want every path new", st)
	}
	if delta*100 >= xz {
		t.Errorf("gen-2 added %d bytes, %.2f%% of its %d nar.xz bytes; want < 1%%", delta, 100*float64(delta)/float64(xz), xz)
	}
}
