package scaletest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/cache"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/s3test"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
	"github.com/nardedup/nardedup/source"
)

// ingestSample creates the repository at url and ingests the binary cache
// in dir into it, in process.
func ingestSample(t *testing.T, srv *s3test.Server, url, dir string) {
	t.Helper()
	initRepo(t, srv, url)
	be, err := s3.Open(context.Background(), url, srv.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := ingest.Run(context.Background(), source.NewDir(dir), openStore(t, be), ingest.Options{Jobs: 2})
	if err != nil || stats.Failed != 0 {
		t.Fatalf("ingest %s: %v (%+v)", dir, err, stats)
	}
}

// openStore opens the repository on be with a fresh local index, as a new
// process would; the store is closed when t ends.
func openStore(t *testing.T, be backend.Backend) *repo.Repo {
	t.Helper()
	rp, err := repo.Open(context.Background(), be, repo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "index.db")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rp.Close() })
	return rp
}

// measure serves the repository at url from a new store (with the cache in
// cacheDir unless it is "") and fetches every hash's narinfo and NAR once;
// it returns the S3 requests per NAR and the NAR MB/s.
func measure(t *testing.T, srv *s3test.Server, url, cacheDir string, hashes []string) (perNAR, mbps float64) {
	t.Helper()
	cnt := &counter{}
	var be backend.Backend
	be, err := s3.Open(context.Background(), url, srv.Options(s3.WithTransport(func(rt http.RoundTripper) http.RoundTripper {
		cnt.rt = rt
		return cnt
	}))...)
	if err != nil {
		t.Fatal(err)
	}
	if cacheDir != "" {
		if be, err = cache.New(be, cacheDir, 256<<20); err != nil {
			t.Fatal(err)
		}
	}
	// A server as serve opens it: without a local index, its requests
	// counted from its start.
	before := cnt.n.Load()
	rp, err := repo.Open(context.Background(), be, repo.Options{ReadOnly: true, Chunks: chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "index.db")}})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	if rp.Chunks().HasIndex() {
		t.Fatal("a server of a format 2 repository opened with a local index")
	}
	hs := httptest.NewServer(server.New(rp.NARs(), server.Options{Compression: "none", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer hs.Close()
	start := time.Now()
	bytes := fetchAll(t, hs.URL, hashes)
	perNAR = float64(cnt.n.Load()-before) / float64(len(hashes))
	return perNAR, float64(bytes) / 1e6 / time.Since(start).Seconds()
}
