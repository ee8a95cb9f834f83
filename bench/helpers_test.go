package bench_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/bench"
	"github.com/nardedup/nardedup/internal/sample"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// narSize reads the NarSize line of a narinfo file.
func narSize(t testing.TB, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "NarSize: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			must(t, err)
			return n
		}
	}
	t.Fatalf("%s has no NarSize", path)
	return 0
}

// narSizesOf returns the NarSize of every narinfo in a cache directory, by
// store path hash.
func narSizesOf(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.narinfo"))
	must(t, err)
	out := make(map[string]int64)
	for _, f := range files {
		out[strings.TrimSuffix(filepath.Base(f), ".narinfo")] = narSize(t, f)
	}
	return out
}

// narSizes returns, per sample generation, the NarSize of its store paths.
func narSizes(t testing.TB, bucket string, gens []bench.Generation) map[string]map[string]int64 {
	t.Helper()
	out := make(map[string]map[string]int64)
	for k, g := range gens {
		m := make(map[string]int64)
		for _, p := range sample.Paths(k + 1) {
			h, _, _ := strings.Cut(filepath.Base(p), "-")
			m[h] = narSize(t, filepath.Join(bucket, h+".narinfo"))
		}
		out[g.Name] = m
	}
	return out
}
