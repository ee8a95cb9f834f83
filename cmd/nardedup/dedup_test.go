package main_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/repo/layout"
)

// TestIngestDedupDefault follows the default --dedup=auto: names dedup,
// without a local index, on a repository this release created; the index
// on one an earlier release filled (its marker deleted); names again once
// upgrade --names recorded every NAR. gc keeps the marker and verify
// passes it over.
func TestIngestDedupDefault(t *testing.T) {
	bin := nixtest.Nardedup(t)
	work := t.TempDir()
	bucket, err := sample.WriteBucket(filepath.Join(work, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	repoDir, cache := filepath.Join(work, "repo"), filepath.Join(work, "cache")
	common := []string{"--repo", repoDir, "--index-cache", cache}
	marker := filepath.Join(repoDir, layout.Key(layout.NamesComplete, ""))
	// Not from the test's environment: the default is under test.
	t.Setenv("NARDEDUP_DEDUP", "")
	os.Unsetenv("NARDEDUP_DEDUP")
	ingest := func(gen int) string {
		t.Helper()
		list := filepath.Join(work, "gen.paths")
		if err := os.WriteFile(list, []byte(strings.Join(sample.Paths(gen), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return mustRun(t, bin, append([]string{"ingest", "--list", list}, append(common, bucket)...)...)
	}
	noIndex := func(when string) {
		t.Helper()
		if _, err := os.Stat(cache); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the index cache %s was made: %v", when, cache, err)
		}
	}

	out := ingest(1)
	if !strings.Contains(out, "dedup=names") {
		t.Errorf("ingest into a new repository: no dedup=names line:\n%s", out)
	}
	noIndex("names dedup of a new repository")

	// As a repository an earlier release created.
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	out = ingest(2)
	if !strings.Contains(out, "dedup=index") || !strings.Contains(out, "nardedup upgrade --names") {
		t.Errorf("ingest into an unmarked repository: no dedup=index line naming upgrade --names:\n%s", out)
	}
	if dbs, _ := filepath.Glob(filepath.Join(cache, "*", "ingest.db")); len(dbs) != 1 {
		t.Errorf("index dedup made local indexes %v; want one", dbs)
	}
	if err := os.RemoveAll(cache); err != nil {
		t.Fatal(err)
	}

	mustRun(t, bin, append([]string{"upgrade", "--names"}, common...)...)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("upgrade --names left no marker: %v", err)
	}
	if err := os.RemoveAll(cache); err != nil { // upgrade's own index
		t.Fatal(err)
	}
	out = ingest(3)
	if !strings.Contains(out, "dedup=names") {
		t.Errorf("ingest after upgrade --names: no dedup=names line:\n%s", out)
	}
	noIndex("names dedup after upgrade --names")

	// gc deletes what the first generation alone held; not the marker.
	roots := filepath.Join(work, "roots")
	if err := os.WriteFile(roots, []byte(strings.Join(sample.Paths(3), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, bin, append([]string{"forget", "--keep-roots", roots}, common...)...)
	out = mustRun(t, bin, append([]string{"gc", "--grace", "0", "--wait", "5s"}, common...)...)
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("gc deleted the marker: %v\n%s", err, out)
	}
	out = mustRun(t, bin, append([]string{"verify"}, common...)...)
	if strings.Contains(out, layout.NamesComplete.String()) {
		t.Errorf("verify mentions the marker:\n%s", out)
	}
}
