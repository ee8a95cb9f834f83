package bench_test

import (
	"bytes"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/bench"
	"github.com/nardedup/nardedup/bench/report"
)

var update = flag.Bool("update", false, "rewrite the golden report files under testdata")

// TestRenderGolden renders fixed reports (testdata/NAME.json) and compares
// every file written with testdata/NAME/. medium.json is a real run;
// partial.json has missing and failed peers, no xz and no recompression;
// minimal.json has only the generations and a sweep without a default row.
// Run with -update to rewrite the golden files.
func TestRenderGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	must(t, err)
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.json")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			must(t, err)
			rep, err := bench.ParseJSON(data)
			must(t, err)
			out := t.TempDir()
			must(t, report.WriteFiles(out, rep))
			compareDir(t, out, filepath.Join("testdata", name))
		})
	}
}

// compareDir checks that dir holds the same files as golden, byte for
// byte, or with -update makes golden a copy of dir.
func compareDir(t *testing.T, dir, golden string) {
	t.Helper()
	got := dirFiles(t, dir)
	if *update {
		must(t, os.RemoveAll(golden))
		must(t, os.MkdirAll(golden, 0o755))
		for name, data := range got {
			must(t, os.WriteFile(filepath.Join(golden, name), data, 0o644))
		}
		return
	}
	want := dirFiles(t, golden)
	for _, name := range slices.Sorted(maps.Keys(want)) {
		switch g, ok := got[name]; {
		case !ok:
			t.Errorf("%s not written", name)
		case !bytes.Equal(g, want[name]):
			t.Errorf("%s differs from %s (run with -update if the change is meant)", name, filepath.Join(golden, name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[name]; !ok {
			t.Errorf("%s written, but not in %s", name, golden)
		}
	}
}

func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	files := make(map[string][]byte)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		must(t, err)
		files[e.Name()] = data
	}
	return files
}
