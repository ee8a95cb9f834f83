// Package sample ships a small real Nix binary cache for demonstrations
// and tests: six store paths (zlib, attr, acl, bzip2 with their outputs)
// over three generations (a base, a mass rebuild, version bumps with a
// rebuild), built from Debian packages by real Nix and signed with the key in
// public-key. It was made by the corpus generator's make-bucket with
// packages.txt, seed 1 and 3 generations.
package sample

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed bucket public-key gen-1.paths gen-2.paths gen-3.paths
var files embed.FS

// PublicKey returns the key that signed the sample's narinfos.
func PublicKey() string {
	b, _ := files.ReadFile("public-key")
	return strings.TrimSpace(string(b))
}

// Paths returns the store paths of generation gen (1 to 3).
func Paths(gen int) []string {
	b, err := files.ReadFile(fmt.Sprintf("gen-%d.paths", gen))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// WriteBucket writes the sample binary cache into dir (created) and returns
// dir.
func WriteBucket(dir string) (string, error) {
	sub, err := fs.Sub(files, "bucket")
	if err != nil {
		return "", err
	}
	err = fs.WalkDir(sub, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := fs.ReadFile(sub, path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		return "", fmt.Errorf("sample: write bucket: %w", err)
	}
	return dir, nil
}
