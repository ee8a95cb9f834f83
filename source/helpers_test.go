package source_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
)

// field returns the value of key in narinfo text.
func field(narinfo []byte, key string) string {
	for line := range strings.SplitSeq(string(narinfo), "\n") {
		if v, ok := strings.CutPrefix(line, key+": "); ok {
			return v
		}
	}
	return ""
}

// requireTool skips (or under CI fails) a test when a program is missing.
func requireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found on PATH", name)
		}
		t.Skipf("%s not found on PATH", name)
	}
}

// run runs a command, failing the test with its output on error.
func run(t testing.TB, env []string, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// makeTree writes a small store-path-like tree with text, binary noise, an
// executable and a symlink; size roughly sets the byte count.
func makeTree(t testing.TB, dir string, seed uint64, size int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var text strings.Builder
	for text.Len() < size {
		fmt.Fprintf(&text, "line %d: value %d\n", text.Len(), rng.IntN(1000))
	}
	noise := make([]byte, size/4)
	for i := range noise {
		noise[i] = byte(rng.UintN(256))
	}
	files := map[string][]byte{"share/doc.txt": []byte(text.String()), "lib/blob.bin": noise}
	for name, data := range files {
		p := filepath.Join(dir, name)
		mkdir(t, filepath.Dir(p))
		writeFile(t, p, data, 0o644)
	}
	mkdir(t, filepath.Join(dir, "bin"))
	writeFile(t, filepath.Join(dir, "bin", "tool"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	if err := os.Symlink("../share/doc.txt", filepath.Join(dir, "bin", "doc")); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

// testCache is a binary cache built with real Nix.
type testCache struct {
	Dir  string
	NARs map[string][]byte // narinfo hash -> expected NAR (nix-store --dump)
}

// buildCache adds n trees to a private store and copies them with
// `nix copy --to file://DIR?compression=...`.
func buildCache(t testing.TB, compression string, n int) testCache {
	t.Helper()
	nixtest.Require(t)
	tmp := t.TempDir()
	env := nixtest.Env(filepath.Join(tmp, "store"))
	c := testCache{Dir: filepath.Join(tmp, "cache"), NARs: map[string][]byte{}}
	for i := range n {
		tree := filepath.Join(tmp, fmt.Sprintf("tree-%d", i))
		makeTree(t, tree, uint64(i), 100_000*(i+1))
		storePath := strings.TrimSpace(string(run(t, env, nil, "nix-store", "--add", tree)))
		run(t, env, nil, "nix", "copy", "--to", "file://"+c.Dir+"?compression="+compression, storePath)
		hash := strings.TrimPrefix(storePath, "/nix/store/")[:32]
		c.NARs[hash] = run(t, env, nil, "nix-store", "--dump", tree)
	}
	return c
}
