// Package sample ships a small real Nix binary cache for demonstrations
// and tests: six store paths (zlib, attr, acl, bzip2 with their outputs)
// over three generations (a base, a mass rebuild, version bumps with a
// rebuild), built from Debian packages by real Nix and signed with the key in
// testdata/sample/public-key. It was made by the corpus generator's
// make-bucket with testdata/sample/packages.txt, seed 1 and 3 generations.
// The files live in testdata/sample at the top of the module, embedded by
// the root package (go:embed cannot reach a parent directory).
package sample

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nardedup/nardedup"
)

// root is the sample's directory in nardedup.Sample.
const root = "testdata/sample/"

// PublicKey returns the key that signed the sample's narinfos.
func PublicKey() string {
	b, _ := nardedup.Sample.ReadFile(root + "public-key")
	return strings.TrimSpace(string(b))
}

// Paths returns the store paths of generation gen (1 to 3).
func Paths(gen int) []string {
	b, err := nardedup.Sample.ReadFile(fmt.Sprintf(root+"gen-%d.paths", gen))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// WriteBucket writes the sample binary cache into dir (created) and returns
// dir.
func WriteBucket(dir string) (string, error) {
	sub, err := fs.Sub(nardedup.Sample, root+"bucket")
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
