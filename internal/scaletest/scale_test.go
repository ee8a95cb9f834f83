package scaletest

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/s3test"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/repo"
)

// freshness bounds how long a server that ran before an ingest takes to
// serve what it committed (README: as soon as its narinfo appears; the
// bound allows for a loaded machine).
const freshness = 10 * time.Second

// TestManyWritersManyServers runs two ingest processes at once into one S3
// repository, each with its own index cache and with overlapping store
// paths of the shared corpus; then has real Nix copy every path from a server started
// before the ingests, one started after and one with the local cache, and
// verifies the repository.
func TestManyWritersManyServers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs several processes")
	}
	srv := s3test.Start(t)
	url := srv.URL(srv.NewBucket(t), "repo")
	c := smallCorpus(t)
	dir := c.bucket
	bin := nixtest.Nardedup(t)
	env := append(append(os.Environ(), srv.Env()...), "NARDEDUP_REPO="+url)
	initRepo(t, srv, url)
	early := startServe(t, bin, env)

	g1, g2, g3 := c.gens[0], c.gens[1], c.gens[2]
	waitA := startIngest(t, bin, env, dir, append(append([]string(nil), g1...), g2...))
	waitB := startIngest(t, bin, env, dir, append(append([]string(nil), g2...), g3...))
	for name, wait := range map[string]func() (string, error){"A": waitA, "B": waitB} {
		out, err := wait()
		if err != nil {
			t.Fatalf("ingest %s: %v\n%s", name, err, out)
		}
		t.Logf("ingest %s:\n%s", name, out)
	}
	paths := c.all()
	t.Logf("server started before the ingests served every NAR %v after they ended", fetchEventually(t, early, paths))

	late := startServe(t, bin, env)
	cacheDir := t.TempDir()
	cached := startServe(t, bin, env, "--cache-dir", cacheDir, "--cache-size", "64M")
	nixtest.Require(t, "nix")
	for _, u := range []string{early, late, cached, cached} {
		nixtest.Copy(t, u, c.key, paths)
	}
	if files, _ := filepath.Glob(filepath.Join(cacheDir, "??", "*")); len(files) == 0 {
		t.Errorf("the server with --cache-dir cached nothing")
	}
	cmd := exec.Command(bin, "verify")
	cmd.Env = withIndex(t, env)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nardedup verify: %v\n%s", err, out)
	}
}

// initRepo creates the repository, so that a server can start before the
// ingests.
func initRepo(t *testing.T, srv *s3test.Server, url string) {
	t.Helper()
	be, err := s3.Open(context.Background(), url, srv.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if _, err := repo.Create(context.Background(), be, repo.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
}

// fetchEventually fetches every path's NAR from url, retrying each for up
// to freshness, and returns how long it took in all.
func fetchEventually(t *testing.T, url string, paths []string) time.Duration {
	t.Helper()
	start := time.Now()
	for _, p := range paths {
		for deadline := time.Now().Add(freshness); ; time.Sleep(100 * time.Millisecond) {
			_, err := fetchNAR(url, hashOf(p))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not served within %v: %v", p, freshness, err)
			}
		}
	}
	return time.Since(start)
}

// counter counts the HTTP requests that pass through it.
type counter struct {
	rt http.RoundTripper
	n  atomic.Int64
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// TestCacheRequests measures the S3 requests per NAR and the serving speed
// of a server on S3 (a new store each time, as a new process, its start
// counted) without the local cache, with a cold one and with the same one
// warm.
func TestCacheRequests(t *testing.T) {
	srv := s3test.Start(t)
	url := srv.URL(srv.NewBucket(t), "repo")
	dir, err := sample.WriteBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ingestSample(t, srv, url, dir)
	var hashes []string
	for _, p := range samplePaths() {
		hashes = append(hashes, hashOf(p))
	}
	for round := range 3 {
		none, noneMBps := measure(t, srv, url, "", hashes)
		cacheDir := t.TempDir()
		cold, coldMBps := measure(t, srv, url, cacheDir, hashes)
		warm, warmMBps := measure(t, srv, url, cacheDir, hashes)
		t.Logf("round %d, S3 requests per NAR (narinfo + NAR) and MB/s: no cache %.2f, %.1f; cold %.2f, %.1f; warm %.2f, %.1f",
			round, none, noneMBps, cold, coldMBps, warm, warmMBps)
		// A new server reads the config once, then per NAR only what the
		// cache lacks; warm, that is the narinfo.
		if limit := 1 + 1/float64(len(hashes)); warm > limit || cold < warm {
			t.Errorf("warm cache: %.2f S3 requests per NAR, cold %.2f; want at most %.2f (the narinfo, and the config once)", warm, cold, limit)
		}
	}
}
