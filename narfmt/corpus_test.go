package narfmt_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// corpusDir holds xz-compressed NARs of a real binary cache, when present.
const corpusDir = "/var/tmp/corpus/small/bucket/nar"

// TestCorpusRoundTrip rewrites real NARs from the shared corpus and checks
// that the output is byte-identical. It is skipped when the corpus is
// absent; in -short mode only a few NARs are checked.
func TestCorpusRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.nar.xz"))
	if len(files) == 0 {
		t.Skipf("no corpus NARs in %s", corpusDir)
	}
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz not found on PATH")
	}
	if testing.Short() && len(files) > 5 {
		files = files[:5]
	}
	var total int64
	for _, f := range files {
		data, err := exec.Command("xz", "-dc", f).Output()
		if err != nil {
			t.Fatalf("xz -dc %s: %v", f, err)
		}
		total += int64(len(data))
		var out bytes.Buffer
		if err := rewrite(&out, bytes.NewReader(data)); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Errorf("%s: rewritten NAR differs: %s", filepath.Base(f), firstDiff(out.Bytes(), data))
		}
	}
	t.Logf("round-tripped %d NARs, %d bytes", len(files), total)
}

// TestCorpusFileContents checks, on one corpus NAR, that the contents the
// Reader returns are what nix-store --restore writes to disk.
func TestCorpusFileContents(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.nar.xz"))
	if len(files) == 0 {
		t.Skipf("no corpus NARs in %s", corpusDir)
	}
	if _, err := exec.LookPath("nix-store"); err != nil {
		t.Skip("nix-store not found on PATH")
	}
	smallest := files[0]
	for _, f := range files {
		a, errA := os.Stat(f)
		b, errB := os.Stat(smallest)
		if errA == nil && errB == nil && a.Size() < b.Size() {
			smallest = f
		}
	}
	data, err := exec.Command("xz", "-dc", smallest).Output()
	if err != nil {
		t.Fatalf("xz -dc %s: %v", smallest, err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	nixRestore(t, data, dst)
	got, err := readAll(bytes.NewReader(data), false)
	if err != nil {
		t.Fatal(err)
	}
	compareEntries(t, got, walkTree(t, dst))
}
