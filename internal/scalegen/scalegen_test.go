package scalegen_test

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/scalegen"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
)

// generate creates a repository in dir and stores every generation of
// g into it, with its local index at index, or with names dedup if index
// is "".
func generate(t testing.TB, dir, index string, g *scalegen.Generator) scalegen.Stats {
	t.Helper()
	ctx := context.Background()
	be, err := local.OpenUnsynced(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if _, err := repo.Create(ctx, be, scalegen.Config()); err != nil {
		t.Fatal(err)
	}
	rp, err := repo.Open(ctx, be, repo.Options{Chunks: ingestOptions(index)})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	stats, err := g.Generate(ctx, rp)
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

// ingestOptions returns the chunk store options of an ingest with its
// local index at index, or with names dedup if index is "".
func ingestOptions(index string) chunkstore.Options {
	if index == "" {
		return chunkstore.Options{Candidates: ingest.DefaultCandidates}
	}
	return chunkstore.Options{IndexPath: index}
}

// TestGenerated generates a repository of ten thousand chunks and checks
// that a new process opens it, that every NAR verifies and that a server
// serves one.
func TestGenerated(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	g := scalegen.New(scalegen.Options{Seed: 1, Chunks: 10_000})
	start := time.Now()
	stats := generate(t, filepath.Join(dir, "repo"), filepath.Join(dir, "ingest.db"), g)
	t.Logf("generated in %v", time.Since(start))
	if want := g.Packages() * g.Generations(); stats.NARs != want {
		t.Fatalf("stored %d NARs, want %d", stats.NARs, want)
	}

	be, err := local.Open(filepath.Join(dir, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	rp, err := repo.Open(ctx, be, repo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(dir, "serve.db")}})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	_, chunks, err := rp.Chunks().IndexStats()
	if err != nil {
		t.Fatal(err)
	}
	if chunks < 5_000 || chunks > 20_000 {
		t.Errorf("%d chunks, want about 10000", chunks)
	}
	t.Logf("%d packages, %d NARs of %d bytes, %d chunks", g.Packages(), stats.NARs, stats.NarBytes, chunks)

	t.Logf("opened in %v", time.Since(start))
	res, err := admin.Verify(ctx, rp.NARs(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.NARs != stats.NARs || len(res.Damaged) != 0 {
		t.Fatalf("verify: %d NARs, damaged %v; want %d NARs", res.NARs, res.Damaged, stats.NARs)
	}

	t.Logf("verified in %v", time.Since(start))
	hs := httptest.NewServer(server.New(rp.NARs(), server.Options{Compression: "none",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer hs.Close()
	i, gen := g.Packages()-1, g.Generations()-1
	n, want, err := g.NAR(i, gen)
	if err != nil {
		t.Fatal(err)
	}
	got := fetchNAR(t, hs.URL, n.Hash)
	if string(got) != string(want) {
		t.Fatalf("served NAR of %d bytes differs from the generated %d", len(got), len(want))
	}
}

// fetchNAR fetches the narinfo of hash from the cache at url, then its
// NAR, checks the NAR against the narinfo's NarHash and returns it.
func fetchNAR(t testing.TB, url, hash string) []byte {
	t.Helper()
	text := nixtest.Get(t, url+"/"+hash+".narinfo")
	var narURL, narHash string
	for line := range strings.Lines(string(text)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		switch k {
		case "URL":
			narURL = v
		case "NarHash":
			narHash = v
		}
	}
	nar := nixtest.Get(t, url+"/"+narURL)
	if h := narfmt.Hash(sha256.Sum256(nar)); "sha256:"+h.String() != narHash {
		t.Fatalf("%s: NAR hashes to %s, narinfo says %s", narURL, h, narHash)
	}
	return nar
}
