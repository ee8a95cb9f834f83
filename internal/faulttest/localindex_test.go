package faulttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
)

// TestLocalIndexDamage deletes, truncates or overwrites the local bbolt
// index: opening the repository must rebuild it transparently (it is
// derived data), and after Rebuild from the index objects or from the packs
// every NAR must verify and be served bit for bit.
func TestLocalIndexDamage(t *testing.T) {
	f := newFixture(t)
	garbage := func(off, n int64) func(string) error {
		return func(path string) error {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rand.New(rand.NewSource(off)).Read(data[off:min(off+n, int64(len(data)))])
			return os.WriteFile(path, data, 0o644)
		}
	}
	truncate := func(size int64) func(string) error {
		return func(path string) error { return os.Truncate(path, size) }
	}
	tests := []struct {
		name   string
		damage func(path string) error
	}{
		{"delete", os.Remove},
		{"truncate to 0", truncate(0)},
		{"truncate to 100", truncate(100)},
		{"truncate to one page", truncate(4096)},
		{"truncate to 16 KiB", truncate(16 << 10)},
		{"truncate to half", func(p string) error { fi, _ := os.Stat(p); return truncate(fi.Size() / 2)(p) }},
		{"garbage throughout", garbage(0, 1<<30)},
		{"garbage in the meta pages", garbage(0, 8192)},
		{"garbage in the data pages", garbage(8192, 1<<30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := f.clone(t, true)
			must(t, tt.damage(r.idx))
			if err := r.open(); err != nil {
				t.Fatalf("open with a damaged local index: got %v; want it rebuilt", err)
			}
			checkClean(t, r)
			serveAll(t, r)
			for _, fromPacks := range []bool{false, true} {
				must(t, r.close())
				must(t, tt.damage(r.idx))
				res, err := nrepo.RebuildIndex(context.Background(), r.be, nrepo.Options{Chunks: chunkstore.Options{IndexPath: r.idx}}, fromPacks)
				if err != nil || len(res.Damaged) != 0 || res.Packs != len(f.packs()) {
					t.Fatalf("rebuild (from packs %v): got %+v, %v; want %d packs, none damaged", fromPacks, res, err, len(f.packs()))
				}
				must(t, r.open())
				checkClean(t, r)
				serveAll(t, r)
			}
		})
	}
}

// serveAll serves the repository over HTTP and fetches the narinfo and NAR
// of every store path of the sample, checking each NAR's SHA-256 and size.
func serveAll(t testing.TB, r *repo) {
	t.Helper()
	ts := httptest.NewServer(server.New(r.st, server.Options{Compression: "none"}))
	defer ts.Close()
	for _, u := range upstream(t, r.bucket) {
		text := nixtest.Get(t, ts.URL+"/"+u.hash+".narinfo")
		ni, err := narinfo.Parse(bytes.NewReader(text))
		must(t, err)
		nar := nixtest.Get(t, ts.URL+"/"+ni.URL)
		if got := sha256.Sum256(nar); got != u.narHash || uint64(len(nar)) != u.size {
			t.Errorf("GET %s: got %d bytes, sha256 %x; want %d, %x", ni.URL, len(nar), got, u.size, u.narHash)
		}
	}
}
