package main_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nixtest"

	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/narfmt/storepath"
	bolt "go.etcd.io/bbolt"
)

// writePaths writes the store paths of the given sample generations to a
// file for ingest --paths.
func writePaths(t *testing.T, dir string, gens ...int) string {
	t.Helper()
	var b strings.Builder
	for _, g := range gens {
		for _, p := range sample.Paths(g) {
			b.WriteString(p + "\n")
		}
	}
	f := filepath.Join(dir, fmt.Sprintf("paths-%v", gens))
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// fetchNAR fetches a store path's narinfo and NAR from a server and checks
// the NAR against the NarHash.
func fetchNAR(base, path string) error {
	sp, err := storepath.Parse(storepath.DefaultStoreDir, path)
	if err != nil {
		return err
	}
	resp, err := http.Get(base + "/" + sp.Hash + ".narinfo")
	if err != nil {
		return err
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s.narinfo: status %d", sp.Hash, resp.StatusCode)
	}
	ni, err := narinfo.Parse(bytes.NewReader(text))
	if err != nil {
		return err
	}
	resp, err = http.Get(base + "/" + ni.URL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d, %v", ni.URL, resp.StatusCode, err)
	}
	if got := "sha256:" + nixbase32.EncodeToString(h.Sum(nil)); got != ni.NarHash {
		return fmt.Errorf("%s: got %s; want %s", ni.URL, got, ni.NarHash)
	}
	return nil
}

// A server keeps serving correctly while an ingest writes to its
// repository, and serves the new paths shortly after they are committed.
func TestServeWhileIngesting(t *testing.T) {
	bin := nixtest.Nardedup(t)
	work := t.TempDir()
	bucket, err := sample.WriteBucket(filepath.Join(work, "bucket"))
	must(t, err)
	repo := []string{"--repo", filepath.Join(work, "repo")}
	mustRun(t, bin, append([]string{"ingest", "--index-cache", filepath.Join(work, "c1"),
		"--paths", writePaths(t, work, 1)}, append(repo, bucket)...)...)
	url := serve(t, bin, append(repo, "--index-cache", filepath.Join(work, "c2"), "--compression", "none")...)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var fetches int
	var fetchErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for fetchErr == nil {
			select {
			case <-stop:
				return
			default:
			}
			for _, p := range sample.Paths(1) {
				if fetchErr = fetchNAR(url, p); fetchErr != nil {
					return
				}
				fetches++
			}
		}
	}()
	mustRun(t, bin, append([]string{"ingest", "--index-cache", filepath.Join(work, "c1"),
		"--flush-interval", "50ms"}, append(repo, bucket)...)...)
	close(stop)
	wg.Wait()
	if fetchErr != nil {
		t.Fatalf("fetch during the ingest: %v", fetchErr)
	}
	t.Logf("%d NARs fetched while the ingest ran", fetches)
	waitServes(t, url, append(sample.Paths(2), sample.Paths(3)...))
}

// waitServes waits, within the documented delay, until the server serves
// every path.
func waitServes(t *testing.T, url string, paths []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range paths {
		for {
			err := fetchNAR(url, p)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("newly ingested %s not served: %v", p, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// Two ingests with their own index caches (two machines) may write one
// repository at once: both succeed and nothing is lost. Two with the same
// index cache do not run together: the second is refused with a clear
// message. They dedup with the index: names dedup keeps no index cache.
func TestTwoIngests(t *testing.T) {
	bin := nixtest.Nardedup(t)
	work := t.TempDir()
	bucket, err := sample.WriteBucket(filepath.Join(work, "bucket"))
	must(t, err)
	repo := []string{"--repo", filepath.Join(work, "repo")}
	// The repository exists before the two start: two ingests that both
	// create an empty repository each write its config (see README).
	mustRun(t, bin, append([]string{"ingest", "--dedup", "index", "--index-cache", filepath.Join(work, "c3"),
		"--paths", writePaths(t, work, 1)}, append(repo, bucket)...)...)
	outs := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, gens := range [][]int{{2}, {2, 3}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = run(t, bin, append([]string{"ingest", "--dedup", "index", "--index-cache", filepath.Join(work, fmt.Sprint("c", i)),
				"--paths", writePaths(t, work, gens...)}, append(repo, bucket)...)...)
		}()
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("ingest %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	mustRun(t, bin, append([]string{"verify", "--index-cache", filepath.Join(work, "c3")}, repo...)...)
	all := make(map[string]bool)
	for g := 1; g <= 3; g++ {
		for _, p := range sample.Paths(g) {
			all[p] = true
		}
	}
	stats := mustRun(t, bin, append([]string{"stats", "--index-cache", filepath.Join(work, "c3")}, repo...)...)
	if want := fmt.Sprintf("store paths: %d,", len(all)); !strings.Contains(stats, want) {
		t.Fatalf("after two concurrent ingests: want %q\n%s", want, stats)
	}

	// The same index cache: hold its lock as a running ingest would.
	db := holdIndex(t, filepath.Join(work, "c0"))
	defer db.Close()
	start := time.Now()
	out, err := run(t, bin, append([]string{"ingest", "--dedup", "index", "--index-cache", filepath.Join(work, "c0")}, append(repo, bucket)...)...)
	if err == nil || !strings.Contains(out, "in use by another process") {
		t.Fatalf("second ingest on a busy index cache: err %v; want a refusal naming the busy index\n%s", err, out)
	}
	t.Logf("refused after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
}

// holdIndex opens the ingest index of the one repository under cacheDir.
func holdIndex(t *testing.T, cacheDir string) *bolt.DB {
	t.Helper()
	dbs, err := filepath.Glob(filepath.Join(cacheDir, "*", "ingest.db"))
	if err != nil || len(dbs) != 1 {
		t.Fatalf("ingest index under %s: %v %v", cacheDir, dbs, err)
	}
	db, err := bolt.Open(dbs[0], 0o644, &bolt.Options{Timeout: time.Second})
	must(t, err)
	return db
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
