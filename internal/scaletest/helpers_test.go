package scaletest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt/nixhash"
)

// withIndex returns env with a fresh local index cache, as on its own
// machine.
func withIndex(t *testing.T, env []string) []string {
	return append(append([]string(nil), env...), "NARDEDUP_INDEX_CACHE="+t.TempDir())
}

// startIngest starts "nardedup ingest" of the store paths in paths from
// the binary cache dir, with the extra flags; wait waits for it and returns
// its output.
func startIngest(t *testing.T, bin string, env []string, dir string, paths []string, extra ...string) (wait func() (string, error)) {
	t.Helper()
	list := filepath.Join(t.TempDir(), "paths")
	if err := os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	args := append(append([]string{"ingest", "--jobs", "2"}, extra...), "--list", list, dir)
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = withIndex(t, env), &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() (string, error) {
		err := cmd.Wait()
		return out.String(), err
	}
}

// startServe starts "nardedup serve" (NARs uncompressed) with its own
// index cache and returns its URL once it answers.
func startServe(t *testing.T, bin string, env []string, extra ...string) string {
	t.Helper()
	return nixtest.Serve(t, bin, withIndex(t, env), append([]string{"--compression", "none"}, extra...)...)
}

// fetchNAR fetches the narinfo of hash from the cache at url and its NAR
// (served uncompressed), checks the NAR against NarHash and returns its
// size.
func fetchNAR(url, hash string) (int64, error) {
	ni, err := get(url + "/" + hash + ".narinfo")
	if err != nil {
		return 0, err
	}
	fields := map[string]string{}
	for line := range strings.SplitSeq(string(ni), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			fields[k] = v
		}
	}
	want, err := nixhash.Parse(fields["NarHash"])
	if err != nil || fields["Compression"] != "none" {
		return 0, fmt.Errorf("%s.narinfo: NarHash %q (%v), Compression %q", hash, fields["NarHash"], err, fields["Compression"])
	}
	nar, err := get(url + "/" + fields["URL"])
	if err != nil {
		return 0, err
	}
	if sum := sha256.Sum256(nar); !bytes.Equal(sum[:], want.Digest) {
		return 0, fmt.Errorf("%s: NAR of %d bytes does not match NarHash %s", hash, len(nar), fields["NarHash"])
	}
	return int64(len(nar)), nil
}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, err
}

// fetchAll fetches every hash's NAR from url and returns the NAR bytes.
func fetchAll(t testing.TB, url string, hashes []string) int64 {
	t.Helper()
	var total int64
	for _, h := range hashes {
		n, err := fetchNAR(url, h)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

// samplePaths returns the store paths of all sample generations.
func samplePaths() []string {
	var paths []string
	for gen := 1; gen <= 3; gen++ {
		paths = append(paths, sample.Paths(gen)...)
	}
	return paths
}

// hashOf returns the hash part of a store path.
func hashOf(path string) string {
	h, _, _ := strings.Cut(strings.TrimPrefix(path, "/nix/store/"), "-")
	return h
}

// corpus is a multi-generation binary cache: the shared make-bucket corpus.
type corpus struct {
	bucket string
	gens   [][]string // store paths of each generation
	key    string     // the key that signed it
}

// smallCorpus returns the shared corpus (make-bucket small, 3 generations).
func smallCorpus(t *testing.T) corpus {
	t.Helper()
	dir := nixtest.Corpus(t, "small", 3)
	c := corpus{bucket: filepath.Join(dir, "bucket")}
	for gen := 1; gen <= 3; gen++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("gen-%d.paths", gen)))
		if err != nil {
			t.Fatal(err)
		}
		c.gens = append(c.gens, strings.Fields(string(b)))
	}
	key, err := os.ReadFile(filepath.Join(dir, "public-key"))
	if err != nil {
		t.Fatal(err)
	}
	c.key = strings.TrimSpace(string(key))
	return c
}

// all returns every store path of the corpus once.
func (c corpus) all() []string {
	seen := make(map[string]bool)
	var paths []string
	for _, g := range c.gens {
		for _, p := range g {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	return paths
}
