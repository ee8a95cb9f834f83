package source_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
)

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
		storePath := strings.TrimSpace(string(nixtest.Run(t, env, nil, "nix-store", "--add", tree)))
		nixtest.Run(t, env, nil, "nix", "copy", "--to", "file://"+c.Dir+"?compression="+compression, storePath)
		hash := strings.TrimPrefix(storePath, "/nix/store/")[:32]
		c.NARs[hash] = nixtest.Run(t, env, nil, "nix-store", "--dump", tree)
	}
	return c
}
