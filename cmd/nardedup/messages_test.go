package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/testrepo"
)

// The ingest summary counts as new only the NARs that became visible, and
// tells an interrupted run and its paths in flight from failures.
func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stats ingest.Stats
		want  []string
		not   []string
	}{
		{"full disk", ingest.Stats{Seen: 227, NARs: 100, Committed: 0, Failed: 127},
			[]string{" 0 new NARs,", "127 failed"}, []string{"interrupted"}},
		{"interrupted", ingest.Stats{Seen: 9, Committed: 7, Interrupted: true, InFlight: []string{"aaaa", "bbbb"}},
			[]string{"INTERRUPTED aaaa", "INTERRUPTED bbbb", "interrupted:", "2 store paths in flight"}, []string{"FAILED"}},
	} {
		var b strings.Builder
		printSummary(&b, &tc.stats)
		out := b.String()
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: summary lacks %q:\n%s", tc.name, w, out)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out, w) {
				t.Errorf("%s: summary has %q:\n%s", tc.name, w, out)
			}
		}
	}
}

// A missing index object makes the chunks of a repository of format 1
// (whose manifests do not say where their chunks lie) go missing: verify
// says which command repairs that.
func TestVerifySaysRebuildIndex(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo-v1")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(nixtest.RepoRoot(t), "testdata", "repo-v1"))); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	err := app().Run([]string{"nardedup", "verify", "--repo", dir, "--index-cache", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "chunk not found") || !strings.Contains(err.Error(), "rebuild-index --from-packs") {
		t.Errorf("verify without index objects: %v; want chunk not found and the repair", err)
	}
}

// verify reports the narinfo entries that listing skips and fails.
func TestVerifyReportsIrregularNarInfos(t *testing.T) {
	be, _, _ := testrepo.Sample(t)
	if err := os.Mkdir(filepath.Join(be.Dir(), "narinfo", "dir.narinfo"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := app().Run([]string{"nardedup", "verify", "--repo", be.Dir(), "--index-cache", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "1 entries under narinfo/ are not regular files") {
		t.Errorf("verify: %v; want the directory under narinfo/ reported", err)
	}
}

// gc refuses flag values out of range, naming the flag, before it opens
// the repository.
func TestGCRefusesOutOfRange(t *testing.T) {
	for _, tc := range []struct{ flag, value string }{
		{"grace", "-1h"},
		{"wait", "-1s"},
		{"recompress-min-age", "-24h"},
		{"repack-below", "2"},
		{"repack-below", "1.01"},
		{"repack-below", "NaN"},
	} {
		err := app().Run([]string{"nardedup", "gc", "--repo", t.TempDir(), "--" + tc.flag, tc.value})
		if err == nil || !strings.Contains(err.Error(), "--"+tc.flag) || !strings.Contains(err.Error(), "want") {
			t.Errorf("gc --%s %s: %v; want the value refused", tc.flag, tc.value, err)
		}
	}
}
