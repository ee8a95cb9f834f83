package source_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/source"
)

// checkCache reads every narinfo of src and compares its decompressed NAR
// with the expected one.
func checkCache(t *testing.T, src source.Source, c testCache, compression string) {
	t.Helper()
	ctx := context.Background()
	var got []string
	err := src.List(ctx, func(hash string) error {
		got = append(got, hash)
		ni, err := src.NarInfo(ctx, hash)
		if err != nil {
			return err
		}
		if cm := nixtest.Field(ni, "Compression"); cm != compression {
			t.Errorf("%s: Compression %q, want %q", hash, cm, compression)
		}
		nar := readNAR(t, src, ni)
		if !bytes.Equal(nar, c.NARs[hash]) {
			t.Errorf("%s: NAR differs from nix-store --dump (%d vs %d bytes)", hash, len(nar), len(c.NARs[hash]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for h := range c.NARs {
		want = append(want, h)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
}

func readNAR(t *testing.T, src source.Source, narinfo []byte) []byte {
	t.Helper()
	ctx := context.Background()
	f, err := src.Open(ctx, nixtest.Field(narinfo, "URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := decompress.NewReader(ctx, f, nixtest.Field(narinfo, "Compression"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	nar, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return nar
}

func TestDirRealCache(t *testing.T) {
	for _, compression := range []string{"xz", "zstd", "bzip2", "none"} {
		t.Run(compression, func(t *testing.T) {
			c := buildCache(t, compression, 3)
			src := source.NewDir(c.Dir)
			checkCache(t, src, c, compression)
			info, err := src.CacheInfo(context.Background())
			if err != nil || !strings.Contains(string(info), "StoreDir: /nix/store") {
				t.Errorf("CacheInfo = %q, %v", info, err)
			}
		})
	}
}

// fakeCache writes a cache layout without Nix for the error cases.
func fakeCache(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mkdir(t, filepath.Join(dir, "nar"))
	writeFile(t, filepath.Join(dir, "nix-cache-info"), []byte("StoreDir: /nix/store\n"), 0o644)
	for _, name := range []string{
		"0bsw3a0avj9mkii0rbfxpvr7clrx95x6.narinfo", "00000000000000000000000000000000.narinfo",
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz.narinfo", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo", // e: not base-32
		"0bsw3a0avj9mkii0rbfxpvr7clrx95x.narinfo", "nix-cache-info.narinfo", "README",
	} {
		writeFile(t, filepath.Join(dir, name), []byte("StorePath: x\n"), 0o644)
	}
	writeFile(t, filepath.Join(dir, "nar", "ok.nar"), []byte("nar"), 0o644)
	return dir
}

func TestDirList(t *testing.T) {
	src := source.NewDir(fakeCache(t))
	var got []string
	collect := func(h string) error { got = append(got, h); return nil }
	if err := src.List(context.Background(), collect); err != nil {
		t.Fatal(err)
	}
	want := []string{"00000000000000000000000000000000", "0bsw3a0avj9mkii0rbfxpvr7clrx95x6", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"}
	if !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	stop := errors.New("stop")
	n := 0
	err := src.List(context.Background(), func(string) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("List with failing fn = %v after %d calls, want stop after 1", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := src.List(ctx, collect); !errors.Is(err, context.Canceled) {
		t.Errorf("List with canceled ctx = %v", err)
	}
}

func TestDirNarInfo(t *testing.T) {
	dir := fakeCache(t)
	src := source.NewDir(dir)
	ctx := context.Background()
	if b, err := src.NarInfo(ctx, "0bsw3a0avj9mkii0rbfxpvr7clrx95x6"); err != nil || string(b) != "StorePath: x\n" {
		t.Errorf("NarInfo = %q, %v", b, err)
	}
	if _, err := src.NarInfo(ctx, "11111111111111111111111111111111"); !errors.Is(err, source.ErrNotFound) {
		t.Errorf("missing narinfo: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "../../../etc/passwd", "0bsw3a0avj9mkii0rbfxpvr7clrx95x", "EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE"} {
		if _, err := src.NarInfo(ctx, bad); err == nil || errors.Is(err, source.ErrNotFound) {
			t.Errorf("NarInfo(%q) = %v, want an invalid hash error", bad, err)
		}
	}
	big := "22222222222222222222222222222222"
	writeFile(t, filepath.Join(dir, big+".narinfo"), bytes.Repeat([]byte("x"), source.MaxNarInfoSize+1), 0o644)
	if _, err := src.NarInfo(ctx, big); !errors.Is(err, source.ErrTooLarge) {
		t.Errorf("oversized narinfo: %v, want ErrTooLarge", err)
	}
	if _, err := source.NewDir(t.TempDir()).CacheInfo(ctx); !errors.Is(err, source.ErrNotFound) {
		t.Errorf("missing nix-cache-info: %v, want ErrNotFound", err)
	}
}

func TestDirOpenHostile(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret"), []byte("secret"), 0o644)
	dir := fakeCache(t)
	for name, target := range map[string]string{
		"nar/evil.nar.xz": filepath.Join(outside, "secret"), // absolute link out
		"nar/rel.nar.xz":  "../../" + filepath.Base(outside) + "/secret",
		"nar/up":          "..", // directory link to the root itself, then ..
		"nar/etc":         "/etc",
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "nar", "fifo.nar"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := source.NewDir(dir)
	for _, u := range []string{
		"", "../x", "/etc/passwd", "nar/../../x", "nar/../nix-cache-info", "./nar/ok.nar", "nar//ok.nar",
		"nar/", "nar\\..\\..\\x", "nar/ok.nar\x00", "file:///etc/passwd", "http://example.invalid/x",
		"nar/evil.nar.xz", "nar/rel.nar.xz", "nar/up/../x", "nar/up/nar/../../x", "nar/etc/passwd",
		"nar/fifo.nar", "nar", "nar/up/up/up/etc/passwd",
	} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			rc, err := src.Open(context.Background(), u)
			if err == nil {
				b, _ := io.ReadAll(rc)
				rc.Close()
				t.Errorf("Open(%q) succeeded, read %q", u, b)
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Open(%q) hangs", u)
		}
	}
	if rc, err := src.Open(context.Background(), "nar/ok.nar"); err != nil {
		t.Errorf("Open(nar/ok.nar): %v", err)
	} else {
		rc.Close()
	}
	if _, err := src.Open(context.Background(), "nar/missing.nar.xz"); !errors.Is(err, source.ErrNotFound) {
		t.Errorf("missing NAR: %v, want ErrNotFound", err)
	}
}

func TestOpenSpec(t *testing.T) {
	dir := fakeCache(t)
	for _, tc := range []struct {
		spec, want string // want: String() of the result, "" for an error
	}{
		{dir, dir},
		{"file://" + dir, dir},
		{"file://" + dir + "?compression=zstd", dir},
		{"file://localhost" + dir, dir},
		{"http://cache.example.invalid/sub", "http://cache.example.invalid/sub/"},
		{"https://user:pw@cache.example.invalid/", "https://user:xxxxx@cache.example.invalid/"},
		{"", ""}, {"s3://bucket", ""}, {"ssh://host", ""}, {"file://otherhost/x", ""},
		{"file://relative", ""}, {"http://", ""}, {filepath.Join(dir, "missing"), ""},
		{filepath.Join(dir, "nix-cache-info"), ""},
	} {
		src, err := source.Open(tc.spec)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("Open(%q) = %v, want an error", tc.spec, src)
		case tc.want != "" && err != nil:
			t.Errorf("Open(%q): %v", tc.spec, err)
		case err == nil && src.String() != tc.want:
			t.Errorf("Open(%q).String() = %q, want %q", tc.spec, src.String(), tc.want)
		}
	}
}
