package narinfo_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/signature"
)

// The testdata narinfos were written by nix copy --to file://... and signed
// with the key in testdata/public-key.

func goldenFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.narinfo"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden narinfos: %v", err)
	}
	return files
}

func trustedKey(t testing.TB) signature.PublicKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "public-key"))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := signature.ParsePublicKey(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

func TestGoldenRoundTrip(t *testing.T) {
	for _, file := range goldenFiles(t) {
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		ni, err := narinfo.Parse(bytes.NewReader(want))
		if err != nil {
			t.Errorf("%s: Parse: %v", file, err)
			continue
		}
		if got := ni.String(); got != string(want) {
			t.Errorf("%s: String() =\n%s\nwant\n%s", file, got, want)
		}
		base := strings.TrimSuffix(filepath.Base(file), ".narinfo")
		if !strings.HasPrefix(ni.StorePath, "/nix/store/"+base+"-") {
			t.Errorf("%s: StorePath = %q; want hash %s", file, ni.StorePath, base)
		}
		// Nix's own order: formatting without Order gives the same text.
		ni.Order = nil
		if got := ni.String(); got != string(want) {
			t.Errorf("%s: String() in Nix order =\n%s\nwant\n%s", file, got, want)
		}
	}
}

func TestGoldenVerify(t *testing.T) {
	pk := trustedKey(t)
	other, _, _ := signature.GenerateKey("corpus.invalid-1", nil)
	for _, file := range goldenFiles(t) {
		b, _ := os.ReadFile(file)
		ni, err := narinfo.Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := ni.Verify([]signature.PublicKey{pk}); err != nil {
			t.Errorf("%s: Verify = %v; want nil", file, err)
		}
		if err := ni.Verify([]signature.PublicKey{other.Public()}); err == nil || !strings.Contains(err.Error(), ni.StorePath) {
			t.Errorf("%s: Verify with other key = %v; want error naming %s", file, err, ni.StorePath)
		}
		ni.NarSize++
		if err := ni.Verify([]signature.PublicKey{pk}); err == nil {
			t.Errorf("%s: Verify after changing NarSize = nil; want error", file)
		}
	}
}

func TestGoldenManyReferences(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "x8shz8np4d4r1s60llabw1rmbl8glhf3.narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	ni, err := narinfo.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(ni.References) != 9 {
		t.Errorf("len(References) = %d; want 9", len(ni.References))
	}
}
