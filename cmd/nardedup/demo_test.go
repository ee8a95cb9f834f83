package main_test

import (
	"crypto/rand"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"

	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt/signature"
)

// The README's first command: the demo ingests the embedded sample cache
// and prints what it stored; run again, it stores nothing new.
func TestDemo(t *testing.T) {
	bin := nixtest.Nardedup(t)
	dir := filepath.Join(t.TempDir(), "demo")
	paths := map[string]bool{}
	for g := 1; g <= 3; g++ {
		for _, p := range sample.Paths(g) {
			paths[p] = true
		}
	}
	out := mustRun(t, bin, "demo", "--dir", dir, "--no-serve")
	for _, want := range []string{
		"0 failed",
		"store paths: " + strconv.Itoa(len(paths)) + ",",
		"smaller than the upstream files",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	again := mustRun(t, bin, "demo", "--dir", dir, "--no-serve")
	if !strings.Contains(again, " 0 new NARs") {
		t.Errorf("second demo run stored new NARs:\n%s", again)
	}

	// verify checks the upstream signatures when given the keys.
	repo := []string{"--repo", filepath.Join(dir, "repo"), "--index-cache", filepath.Join(dir, "index-cache")}
	mustRun(t, bin, append([]string{"verify", "--trusted-public-keys", sample.PublicKey()}, repo...)...)
	// stats --cost prices the repository next to its source, and projects.
	out = mustRun(t, bin, append([]string{"stats", "--cost"}, repo...)...)
	for _, want := range []string{"S3 Standard us-east-1 (USD)  source nar.xz", "Cloudflare R2 (USD)          nardedup, warm", "Projected to a bucket of 500000000 NARs"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats --cost output lacks %q:\n%s", want, out)
		}
	}
	name, _, _ := strings.Cut(sample.PublicKey(), ":")
	_, other, err := signature.GenerateKey(name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	out, err = run(t, bin, append([]string{"verify", "--trusted-public-keys", other.String()}, repo...)...)
	if err == nil || strings.Count(out, "DAMAGED") != len(paths) {
		t.Errorf("verify with a key that signed nothing: err %v; want every path reported\n%s", err, out)
	}
}
