package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/s3test"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
	"github.com/nardedup/nardedup/source"
)

// openStore opens the repository on be (creating it when create is set)
// with a fresh local index, as a new process would.
func openStore(t testing.TB, be backend.Backend, create bool) *repo.Repo {
	t.Helper()
	ctx := context.Background()
	if create {
		if _, err := repo.Create(ctx, be, repo.DefaultConfig()); err != nil {
			t.Fatal(err)
		}
	}
	rp, err := repo.Open(ctx, be, repo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "index.db")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rp.Close() })
	return rp
}

// ingestDir ingests the binary cache in dir and checks that nothing failed.
func ingestDir(t testing.TB, rp *repo.Repo, dir string) *ingest.Stats {
	t.Helper()
	stats, err := ingest.Run(context.Background(), source.NewDir(dir), rp, ingest.Options{Jobs: 2})
	if err != nil || stats.Failed != 0 {
		t.Fatalf("ingest %s: %v (%+v)", dir, err, stats)
	}
	return stats
}

// narinfoHashes lists the narinfos of the binary cache in dir.
func narinfoHashes(t testing.TB, dir string) []string {
	t.Helper()
	var hashes []string
	if err := source.NewDir(dir).List(context.Background(), func(h string) error {
		hashes = append(hashes, h)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return hashes
}

// fetchAll fetches the narinfo of every hash from the cache at url and its
// NAR (served uncompressed), checks the NAR's sha256 against NarHash and
// returns the NAR bytes read.
func fetchAll(t testing.TB, url string, hashes []string) int64 {
	t.Helper()
	var total int64
	for _, h := range hashes {
		ni := nixtest.Get(t, url+"/"+h+".narinfo")
		fields := map[string]string{}
		for line := range strings.SplitSeq(string(ni), "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				fields[k] = v
			}
		}
		want, err := nixhash.Parse(fields["NarHash"])
		if err != nil || fields["Compression"] != "none" {
			t.Fatalf("%s.narinfo: NarHash %q (%v), Compression %q", h, fields["NarHash"], err, fields["Compression"])
		}
		nar := nixtest.Get(t, url+"/"+fields["URL"])
		if sum := sha256.Sum256(nar); !bytes.Equal(sum[:], want.Digest) {
			t.Fatalf("%s: NAR of %d bytes does not match NarHash %s", h, len(nar), fields["NarHash"])
		}
		total += int64(len(nar))
	}
	return total
}

// serveStore serves st behind httptest with the given NAR compression.
func serveStore(t testing.TB, st *narstore.Store, compression string) string {
	t.Helper()
	srv := server.New(st, server.Options{
		Compression: compression, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL
}

func countingOpt(cnt *counter) s3.Option {
	return s3.WithTransport(func(rt http.RoundTripper) http.RoundTripper {
		cnt.rt = rt
		return cnt
	})
}

// TestEndToEnd ingests the sample cache into an S3 repository, serves it
// from a fresh process-like store, fetches every NAR checking its NarHash,
// and has real Nix copy every sample path from it.
func TestEndToEnd(t *testing.T) {
	srv := s3test.Start(t)
	url := srv.URL(srv.NewBucket(t), "nix/repo")
	dir, err := sample.WriteBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var ingestCnt, serveCnt counter
	be, err := s3.Open(context.Background(), url, srv.Options(countingOpt(&ingestCnt))...)
	if err != nil {
		t.Fatal(err)
	}
	stats := ingestDir(t, openStore(t, be, true), dir)
	t.Logf("ingest: %d NARs, %d bytes, %d S3 requests", stats.NARs, stats.NarBytes, ingestCnt.n.Load())

	be2, err := s3.Open(context.Background(), url, srv.Options(countingOpt(&serveCnt))...)
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, be2, false).NARs()
	opened := serveCnt.n.Load()
	hashes := narinfoHashes(t, dir)
	n := serveCnt.delta(func() { fetchAll(t, serveStore(t, st, "none"), hashes) })
	t.Logf("serve: opening %d requests; %d narinfos+NARs: %d requests, %.1f per NAR",
		opened, len(hashes), n, float64(n)/float64(len(hashes)))

	nixtest.Require(t, "nix")
	var paths []string
	for gen := 1; gen <= 3; gen++ {
		paths = append(paths, sample.Paths(gen)...)
	}
	n = serveCnt.delta(func() { nixtest.Copy(t, serveStore(t, st, "zstd"), sample.PublicKey(), paths) })
	t.Logf("nix copy of %d paths: %d S3 requests", len(paths), n)
}

// TestBinary runs the nardedup binary on an S3 repository: ingest,
// verify, stats and serve.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	srv := s3test.Start(t)
	url := srv.URL(srv.NewBucket(t), "")
	dir, err := sample.WriteBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "nardedup")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/nardedup/nardedup/cmd/nardedup").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := append(os.Environ(), srv.Env()...)
	env = append(env, "NARDEDUP_REPO="+url, "NARDEDUP_INDEX_CACHE="+t.TempDir())
	for _, args := range [][]string{{"ingest", dir}, {"ingest", dir}, {"verify"}, {"stats"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("nardedup %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("nardedup %s:\n%s", strings.Join(args, " "), out)
	}
	base := nixtest.Serve(t, bin, env, "--compression", "none")
	fetchAll(t, base, narinfoHashes(t, dir))
}
