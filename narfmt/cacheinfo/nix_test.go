package cacheinfo_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt/cacheinfo"
)

// TestNixWritten parses the nix-cache-info that nix copy creates in a new
// file:// binary cache.
func TestNixWritten(t *testing.T) {
	nixtest.Require(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := nixtest.Env(filepath.Join(dir, "root"))
	cmd := exec.Command("nix-store", "--add", file)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-store --add: %v", err)
	}
	cache := filepath.Join(dir, "cache")
	cmd = exec.Command("nix", "copy", "--to", "file://"+cache, strings.TrimSpace(string(out)))
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix copy: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(cache, "nix-cache-info"))
	if err != nil {
		t.Fatal(err)
	}
	ci, err := cacheinfo.Parse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("Parse(%q): %v", b, err)
	}
	if ci.StoreDir != "/nix/store" {
		t.Errorf("StoreDir = %q; want /nix/store", ci.StoreDir)
	}
	if got := ci.String(); got != string(b) {
		t.Errorf("String() = %q; want %q", got, b)
	}
}
