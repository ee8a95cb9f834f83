package local_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/internal/backendtest"
)

func openLocal(tb testing.TB) *local.Backend {
	tb.Helper()
	b, err := local.Open(tb.TempDir() + "/repo")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return openLocal(t) })
}

func TestConformanceUnsynced(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		b, err := local.OpenUnsynced(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func BenchmarkBackend(b *testing.B) {
	backendtest.Bench(b, func(b *testing.B) backend.Backend { return openLocal(b) })
}

func TestOpen(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "a", "b", "repo")
	b, err := local.Open(dir)
	if err != nil {
		t.Fatalf("Open of a missing nested directory: %v", err)
	}
	defer b.Close()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("Open did not create %s: %v", dir, err)
	}
	if b.String() != "local:"+dir || b.Dir() != dir {
		t.Errorf("String() = %q, Dir() = %q", b.String(), b.Dir())
	}
	file := filepath.Join(parent, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := local.Open(file); err == nil {
		b.Close()
		t.Fatal("Open of a regular file succeeded")
	}
}

// TestOpenReaderKeepsContent checks that a reader opened before an
// overwrite or a Delete keeps reading the object it opened.
func TestOpenReaderKeepsContent(t *testing.T) {
	b := openLocal(t)
	defer b.Close()
	ctx := context.Background()
	if err := backend.PutBytes(ctx, b, "k", []byte("first")); err != nil {
		t.Fatal(err)
	}
	r1, err := b.Get(ctx, "k", 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	if err := backend.PutBytes(ctx, b, "k", []byte("second")); err != nil {
		t.Fatal(err)
	}
	r2, err := b.Get(ctx, "k", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r    io.Reader
		want string
	}{{r1, "irs"}, {r2, "second"}} {
		if got, err := io.ReadAll(tc.r); err != nil || string(got) != tc.want {
			t.Errorf("read %q, %v; want %q", got, err, tc.want)
		}
	}
}

// OpenExisting refuses a missing directory and creates nothing.
func TestOpenExisting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	if b, err := local.OpenExisting(dir); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			b.Close()
		}
		t.Fatalf("OpenExisting of a missing directory: %v; want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenExisting created %s (stat: %v)", dir, err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := local.OpenExisting(dir)
	if err != nil {
		t.Fatalf("OpenExisting of an existing directory: %v", err)
	}
	b.Close()
}
