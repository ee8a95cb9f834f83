package main_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
)

// run runs the binary and returns its combined output.
func run(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := run(t, bin, args...)
	if err != nil {
		t.Fatalf("nardedup %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// serve starts "nardedup serve" on a free loopback port and returns its URL.
func serve(t *testing.T, bin string, args ...string) string {
	t.Helper()
	return nixtest.Serve(t, bin, nil, args...)
}

func readPaths(t *testing.T, files ...string) []string {
	t.Helper()
	seen := make(map[string]bool)
	var paths []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if p := strings.TrimSpace(sc.Text()); p != "" && !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
		fh.Close()
	}
	return paths
}

// smallCorpusRun is the start of a test on the small corpus: the corpus
// (3 generations), the command built, a scratch directory, a repository
// in it and the flags that name it, and the corpus's public key.
func smallCorpusRun(t *testing.T) (corpus, bin, work, repo string, common []string, key string) {
	t.Helper()
	corpus = nixtest.Corpus(t, "small", 3)
	bin = nixtest.Nardedup(t)
	work = t.TempDir()
	repo = filepath.Join(work, "repo")
	common = []string{"--repo", repo, "--index-cache", filepath.Join(work, "cache")}
	key = strings.TrimSpace(readFile(t, filepath.Join(corpus, "public-key")))
	return corpus, bin, work, repo, common, key
}

func TestEndToEndSmallCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a corpus with Nix")
	}
	corpus, bin, work, _, common, key := smallCorpusRun(t)

	// Ingest generation by generation, then the whole bucket.
	for gen := 1; gen <= 3; gen++ {
		out := mustRun(t, bin, append([]string{"ingest"}, append(common, filepath.Join(corpus, fmt.Sprintf("gen-%d", gen)))...)...)
		t.Logf("gen-%d:\n%s", gen, out)
	}
	out := mustRun(t, bin, append([]string{"ingest"}, append(common, "file://"+filepath.Join(corpus, "bucket"))...)...)
	if !strings.Contains(out, " 0 new NARs") {
		t.Fatalf("ingest of the bucket after its generations stored new NARs:\n%s", out)
	}

	paths := readPaths(t, filepath.Join(corpus, "gen-1.paths"), filepath.Join(corpus, "gen-2.paths"), filepath.Join(corpus, "gen-3.paths"))
	url := serve(t, bin, common...)
	nixtest.Copy(t, url, key, paths)

	t.Log(mustRun(t, bin, append([]string{"verify"}, common...)...))
	t.Log(mustRun(t, bin, append([]string{"stats"}, common...)...))

	export := filepath.Join(work, "export")
	mustRun(t, bin, append([]string{"export", "--to", export}, common...)...)
	nixtest.Copy(t, "file://"+export, key, paths)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
