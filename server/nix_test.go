package server_test

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt/signature"
)

// nixCopy runs real Nix to copy paths from url into a fresh store with
// signatures required, and returns the store's root directory, Nix's output
// and its error.
func nixCopy(t *testing.T, url, key string, paths []string) (string, string, error) {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"--extra-experimental-features", "nix-command", "copy",
		"--from", url, "--to", filepath.Join(dir, "store"),
		"--option", "trusted-public-keys", key, "--option", "require-sigs", "true"}, paths...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nix", args...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "NIX_REMOTE=")
	out, err := cmd.CombinedOutput()
	return filepath.Join(dir, "store"), string(out), err
}

func samplePaths() []string {
	var paths []string
	for gen := 1; gen <= 3; gen++ {
		for _, p := range sample.Paths(gen) {
			if !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
	}
	return paths
}

func TestNixCopy(t *testing.T) {
	nixtest.Require(t)
	opts, log := loggingOptions()
	ts := newRepo(t).serve(t, opts)
	paths := samplePaths()
	if len(paths) == 0 {
		t.Fatal("sample has no store paths")
	}
	root, out, err := nixCopy(t, ts.URL, sample.PublicKey(), paths)
	if err != nil {
		t.Fatalf("nix copy --from %s: %v\n%s\nserver log:\n%s", ts.URL, err, out, log)
	}
	for _, p := range paths {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("after nix copy: %v", err)
		}
	}

	// A key of the same name that did not sign the narinfos.
	_, wrong, err := signature.GenerateKey(strings.SplitN(sample.PublicKey(), ":", 2)[0], rand.Reader)
	check(t, err)
	root, out, err = nixCopy(t, ts.URL, wrong.String(), paths[:1])
	if err == nil {
		t.Fatalf("nix copy with a wrong trusted key succeeded; want failure\n%s", out)
	}
	if !strings.Contains(out, "signature") {
		t.Errorf("nix copy with a wrong trusted key: got output %q; want a signature error", out)
	}
	if _, err := os.Lstat(filepath.Join(root, paths[0])); err == nil {
		t.Errorf("nix copy with a wrong trusted key added %s", paths[0])
	}
	t.Logf("nix copy with a wrong trusted key: %s", out)
}
