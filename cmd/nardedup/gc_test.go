package main_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
)

// TestGCWhileServing forgets most of the small corpus, collects with
// repacking while a server that has already served everything keeps
// running, and has real Nix copy every path left from that server.
func TestGCWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a corpus with Nix")
	}
	corpus, bin, work, repo, common, key := smallCorpusRun(t)
	for gen := 1; gen <= 3; gen++ {
		mustRun(t, bin, append([]string{"ingest"}, append(common, filepath.Join(corpus, fmt.Sprintf("gen-%d", gen)))...)...)
	}
	all := readPaths(t, filepath.Join(corpus, "gen-1.paths"), filepath.Join(corpus, "gen-2.paths"), filepath.Join(corpus, "gen-3.paths"))
	url := serve(t, bin, "--repo", repo, "--index-cache", filepath.Join(work, "server-cache"), "--compression", "none")
	nixtest.Copy(t, url, key, all) // the server's index now knows every pack

	// Keep the closures of every other path of the last generation.
	var roots []string
	for i, p := range readPaths(t, filepath.Join(corpus, "gen-3.paths")) {
		if i%2 == 0 {
			roots = append(roots, p)
		}
	}
	rootsFile := filepath.Join(work, "roots")
	if err := os.WriteFile(rootsFile, []byte(strings.Join(roots, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, bin, append([]string{"forget", "--keep-roots", rootsFile, "--dry-run"}, common...)...)
	if !strings.Contains(out, "garbage collection would then free about") {
		t.Errorf("forget --dry-run does not say what gc would free:\n%s", out)
	}
	mustRun(t, bin, append([]string{"forget", "--keep-roots", rootsFile}, common...)...)
	var kept, gone []string
	for _, p := range all {
		if _, err := os.Stat(filepath.Join(repo, "narinfo", filepath.Base(p)[:32]+".narinfo")); err == nil {
			kept = append(kept, p)
		} else {
			gone = append(gone, p)
		}
	}
	if len(kept) < len(roots) || len(gone) == 0 {
		t.Fatalf("kept %d paths for %d roots, forgot %d", len(kept), len(roots), len(gone))
	}
	before := mustRun(t, bin, append([]string{"stats"}, common...)...)
	out = mustRun(t, bin, append([]string{"gc", "--grace", "0", "--repack-below", "0.99", "--wait", "30s"}, common...)...)
	t.Logf("forgot %d of %d paths; gc:\n%s", len(gone), len(all), out)
	if n := number(t, out, `deleted: (\d+) packs`); n == 0 {
		t.Error("gc deleted no pack")
	}
	if n := number(t, out, `repacked: (\d+) live chunks`); n == 0 {
		t.Error("gc repacked nothing")
	}
	after := mustRun(t, bin, append([]string{"stats"}, common...)...)
	t.Logf("stats before:\n%s\nafter:\n%s", before, after)

	nixtest.Copy(t, url, key, kept) // reads what was repacked under the server
	mustRun(t, bin, append([]string{"verify", "--trusted-public-keys", key}, common...)...)
	resp, err := http.Get(url + "/" + filepath.Base(gone[0])[:32] + ".narinfo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("forgotten path: %s", resp.Status)
	}
	// A second collection finds nothing more to do.
	out = mustRun(t, bin, append([]string{"gc", "--grace", "0", "--repack-below", "0.99"}, common...)...)
	if n := number(t, out, `condemned: (\d+) packs`); n != 0 {
		t.Errorf("second gc condemned %d packs:\n%s", n, out)
	}
}

func number(t *testing.T, out, re string) int {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in:\n%s", re, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
