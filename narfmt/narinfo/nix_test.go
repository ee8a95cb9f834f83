package narinfo_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narfmt/signature"
	"github.com/nardedup/nardedup/narfmt/storepath"
)

func runNix(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// makeCache adds a file to a private store, then builds a file:// binary
// cache holding its NAR and a narinfo signed by sk. It returns the cache
// directory and the store path.
func makeCache(t *testing.T, dir string, sk signature.SecretKey) (string, string) {
	t.Helper()
	src := filepath.Join(dir, "src")
	file := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(file, []byte("hello from nardedup\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err := runNix(t, nixtest.Env(src), "nix-store", "--add", file)
	if err != nil {
		t.Fatalf("nix-store --add: %v\n%s", err, sp)
	}
	cmd := exec.Command("nix-store", "--dump", src+sp) // the physical path
	cmd.Env = nixtest.Env(src)
	nar, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-store --dump: %v", err)
	}
	sum := sha256.Sum256(nar)
	h := nixhash.Hash{Algo: nixhash.SHA256, Digest: sum[:]}
	cache := filepath.Join(dir, "cache")
	if err := os.MkdirAll(filepath.Join(cache, "nar"), 0o755); err != nil {
		t.Fatal(err)
	}
	url := "nar/" + h.Base32() + ".nar"
	ni := &narinfo.NarInfo{StorePath: sp, URL: url, Compression: "none",
		FileHash: h.String(), FileSize: uint64(len(nar)), NarHash: h.String(),
		NarSize: uint64(len(nar)), Deriver: narinfo.UnknownDeriver}
	if err := ni.Sign(sk); err != nil {
		t.Fatal(err)
	}
	p, err := storepath.Parse(storepath.DefaultStoreDir, sp)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"nix-cache-info":    "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n",
		url:                 string(nar),
		p.Hash + ".narinfo": ni.String(),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(cache, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cache, sp
}

// TestNixAcceptsOurSignature has Nix copy a path from a binary cache whose
// narinfo we wrote and signed: it must accept it with our public key
// trusted and refuse it with another key trusted.
func TestNixAcceptsOurSignature(t *testing.T) {
	nixtest.Require(t)
	dir := t.TempDir()
	sk, pk, err := signature.GenerateKey("nardedup-test-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPK, _ := signature.GenerateKey("nardedup-test-1", nil)
	cache, sp := makeCache(t, dir, sk)
	for i, tc := range []struct {
		key    signature.PublicKey
		accept bool
	}{{otherPK, false}, {pk, true}} {
		dst := filepath.Join(dir, fmt.Sprintf("dst%d", i))
		out, err := runNix(t, nixtest.Env(dst), "nix", "copy",
			"--from", "file://"+cache, "--to", "local?root="+dst,
			"--option", "trusted-public-keys", tc.key.String(),
			"--option", "require-sigs", "true", sp)
		if tc.accept && err != nil {
			t.Errorf("nix copy with our key trusted: %v\n%s", err, out)
		}
		if !tc.accept && err == nil {
			t.Errorf("nix copy with another key trusted succeeded; want refusal")
		}
		if !tc.accept && err != nil && !strings.Contains(out, "signature") {
			t.Errorf("nix copy refused for another reason: %s", out)
		}
		_, statErr := os.Stat(dst + sp)
		if tc.accept != (statErr == nil) {
			t.Errorf("path in destination store = %v; want %v", statErr == nil, tc.accept)
		}
	}
}

// TestNixVerifiesOurSignature checks the same with nix store verify.
func TestNixVerifiesOurSignature(t *testing.T) {
	nixtest.Require(t)
	dir := t.TempDir()
	sk, pk, _ := signature.GenerateKey("nardedup-test-2", nil)
	cache, sp := makeCache(t, dir, sk)
	_, otherPK, _ := signature.GenerateKey("nardedup-test-2", nil)
	env := nixtest.Env(filepath.Join(dir, "v"))
	out, err := runNix(t, env, "nix", "store", "verify", "--store", "file://"+cache,
		"--sigs-needed", "1", "--trusted-public-keys", pk.String(), sp)
	if err != nil {
		t.Errorf("nix store verify with our key: %v\n%s", err, out)
	}
	out, err = runNix(t, env, "nix", "store", "verify", "--store", "file://"+cache,
		"--sigs-needed", "1", "--trusted-public-keys", otherPK.String(), sp)
	if err == nil {
		t.Errorf("nix store verify with another key succeeded; want failure\n%s", out)
	}
}
