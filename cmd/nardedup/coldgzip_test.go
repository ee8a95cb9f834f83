package main_test

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/internal/nixtest"
)

// TestColdXZGzipServesNix recompresses the manual pages of a corpus (gzip
// files, as Debian ships them) into xz frames with their gzip streams
// expanded, and has real Nix copy every path back from a server, which
// remakes each stream bit for bit; verify agrees.
func TestColdXZGzipServesNix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a corpus with Nix")
	}
	if !chunkstore.HasLibxz {
		t.Skip("built without cgo")
	}
	corpus, bin, work, repo, common, key := smallCorpusRun(t)
	// Every manual page output, and other paths up to more than a group
	// of recompression (gc recompresses no less).
	var paths, others []string
	for _, p := range readPaths(t, filepath.Join(corpus, "gen-1.paths")) {
		if strings.HasSuffix(p, "-man") {
			paths = append(paths, p)
		} else {
			others = append(others, p)
		}
	}
	if len(paths) == 0 {
		t.Fatal("no -man outputs in the corpus's first generation")
	}
	// Closed under references, as Nix copies closures.
	chosen := make(map[string]bool)
	var total int64
	var add func(p string)
	add = func(p string) {
		if chosen[p] {
			return
		}
		chosen[p] = true
		ni := []byte(readFile(t, filepath.Join(corpus, "gen-1", filepath.Base(p)[:32]+".narinfo")))
		n, err := strconv.ParseInt(nixtest.Field(ni, "NarSize"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		for _, ref := range strings.Fields(nixtest.Field(ni, "References")) {
			add(filepath.Join(filepath.Dir(p), ref))
		}
	}
	for _, p := range paths {
		add(p)
	}
	for _, p := range others {
		if total > 12<<20 {
			break
		}
		add(p)
	}
	paths = slices.Sorted(maps.Keys(chosen))
	list := filepath.Join(work, "paths")
	if err := os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, bin, append([]string{"ingest", "--list", list}, append(common, filepath.Join(corpus, "gen-1"))...)...)
	out := mustRun(t, bin, append([]string{"gc", "--grace", "0", "--recompress", "--cold-codec", "xz",
		"--recompress-group-size", "8388608"}, common...)...)
	if !strings.Contains(out, "gzip streams expanded") {
		t.Errorf("gc does not say it expands gzip streams:\n%s", out)
	}
	if cfg := readFile(t, filepath.Join(repo, "config")); !strings.Contains(cfg, `"xz_gzip_frames": true`) {
		t.Errorf("configuration without xz_gzip_frames:\n%s", cfg)
	}
	packs, err := filepath.Glob(filepath.Join(repo, "packs", "*", "*"))
	if err != nil || len(packs) == 0 {
		t.Fatalf("packs %v, %v", packs, err)
	}
	expanded := 0
	for _, p := range packs {
		if b, err := os.ReadFile(p); err == nil && bytes.HasPrefix(b, []byte("NDXG")) {
			expanded++
		}
	}
	if expanded == 0 {
		t.Fatalf("none of %d packs starts with an xz+gzip frame", len(packs))
	}
	url := serve(t, bin, "--repo", repo, "--index-cache", filepath.Join(work, "server-cache"), "--compression", "none")
	nixtest.Copy(t, url, key, paths)
	out = mustRun(t, bin, append([]string{"verify"}, common...)...)
	if !strings.Contains(out, ", 0 store paths damaged") || !regexp.MustCompile(`frames: .*[1-9][0-9]* xz\+gzip \(`).MatchString(out) {
		t.Errorf("verify does not pass, or names no xz+gzip frame:\n%s", out)
	}
}
