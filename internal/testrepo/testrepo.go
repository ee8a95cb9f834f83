// Package testrepo makes repositories for the tests of other packages.
package testrepo

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/source"
)

// Open creates a repository with cfg on be unless be holds one already,
// and opens it with its local index at indexPath; it is closed when the
// test ends.
func Open(tb testing.TB, be backend.Backend, cfg repo.Config, indexPath string) *repo.Repo {
	tb.Helper()
	ctx := context.Background()
	ok, err := repo.Exists(ctx, be)
	if err != nil {
		tb.Fatal(err)
	}
	if !ok {
		if _, err := repo.Create(ctx, be, cfg); err != nil {
			tb.Fatal(err)
		}
	}
	rp, err := repo.Open(ctx, be, repo.Options{Chunks: chunkstore.Options{IndexPath: indexPath}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rp.Close() })
	return rp
}

// Sample writes the built-in sample cache (internal/sample) to a temporary
// directory and ingests it into a new repository with the default
// configuration on a local backend, closed when the test ends.
func Sample(tb testing.TB) (be *local.Backend, rp *repo.Repo, bucket string) {
	tb.Helper()
	dir := tb.TempDir()
	bucket, err := sample.WriteBucket(filepath.Join(dir, "bucket"))
	if err != nil {
		tb.Fatal(err)
	}
	if be, err = local.Open(filepath.Join(dir, "repo")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { be.Close() })
	rp = Open(tb, be, repo.DefaultConfig(), filepath.Join(dir, "index.db"))
	if _, err := ingest.Run(context.Background(), source.NewDir(bucket), rp, ingest.Options{}); err != nil {
		tb.Fatalf("ingest: %v", err)
	}
	return be, rp, bucket
}
