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
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/s3test"
	samplecache "github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/source"
)

// uploadDir copies every file below dir into b under the same relative key.
func uploadDir(t *testing.T, b backend.Backend, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return backend.PutBytes(context.Background(), b, filepath.ToSlash(rel), data)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestS3Source uploads the sample binary cache to a bucket, reads it back
// through the S3 backend next to the directory source, and ingests it.
func TestS3Source(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	dir, err := samplecache.WriteBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := s3.Open(context.Background(), srv.URL(bucket, "cache/x"), srv.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// Build logs and realisations, and a log in a deeper directory that
	// is none.
	realID := "sha256:" + strings.Repeat("0f", 32) + "!out"
	for key, data := range map[string]string{"log/0apnlz8jhs8s3wyagsncrsq0mlj0v822-libpsl-0.21.2.drv": "log\n",
		"log/deeper/x.drv": "no", "realisations/" + realID + ".doi": "{}", "realisations/stray": "no"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(key)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, key), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	uploadDir(t, b, dir)

	src := source.NewS3(b)
	sameAsDir(t, src, source.NewDir(dir))
	datedAsListed(t, src)
	datedAsListed(t, source.NewDir(dir))
	for _, s := range []source.Source{src, source.NewDir(dir)} {
		var logs, reals []string
		x := s.(source.Extras)
		if err := x.ListLogs(context.Background(), func(d string) error { logs = append(logs, d); return nil }); err != nil {
			t.Fatal(err)
		}
		if err := x.ListRealisations(context.Background(), func(id string) error { reals = append(reals, id); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(logs, []string{"0apnlz8jhs8s3wyagsncrsq0mlj0v822-libpsl-0.21.2.drv"}) || !slices.Equal(reals, []string{realID}) {
			t.Errorf("%s lists logs %q, realisations %q", s, logs, reals)
		}
	}

	ctx := context.Background()
	be := mem.New()
	if _, err := repo.Create(ctx, be, repo.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	rp, err := repo.Open(ctx, be, repo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "index.db")}})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	stats, err := ingest.Run(ctx, src, rp, ingest.Options{Jobs: 2})
	if err != nil {
		t.Fatalf("ingest from %s: %v", src, err)
	}
	if stats.Failed != 0 || stats.Seen == 0 || stats.NARs+stats.Linked != stats.Seen || stats.Logs != 1 || stats.Realisations != 1 {
		t.Fatalf("ingest from %s: %+v", src, stats)
	}
}

// sameAsDir checks that src lists and serves what the directory source d
// does.
func sameAsDir(t *testing.T, src, d source.Source) {
	t.Helper()
	ctx := context.Background()
	var got, want []string
	collect := func(s source.Source, into *[]string) {
		if err := s.List(ctx, func(h string) error { *into = append(*into, h); return nil }); err != nil {
			t.Fatalf("%s: List: %v", s, err)
		}
	}
	collect(src, &got)
	collect(d, &want)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	ci, err := src.CacheInfo(ctx)
	if wci, _ := d.CacheInfo(ctx); err != nil || !bytes.Equal(ci, wci) {
		t.Fatalf("CacheInfo = %q, %v", ci, err)
	}
	for _, h := range got {
		ni, err := src.NarInfo(ctx, h)
		if wni, _ := d.NarInfo(ctx, h); err != nil || !bytes.Equal(ni, wni) {
			t.Fatalf("NarInfo(%s) = %q, %v", h, ni, err)
		}
		if g, w := readAll(t, src, nixtest.Field(ni, "URL")), readAll(t, d, nixtest.Field(ni, "URL")); !bytes.Equal(g, w) {
			t.Fatalf("Open(%s): %d bytes, want %d", nixtest.Field(ni, "URL"), len(g), len(w))
		}
	}
	if _, err := src.NarInfo(ctx, "00000000000000000000000000000000"); !errors.Is(err, source.ErrNotFound) {
		t.Errorf("missing narinfo: %v, want ErrNotFound", err)
	}
	if _, err := src.Open(ctx, "nar/../x"); !errors.Is(err, source.ErrBadURL) {
		t.Errorf("Open(nar/../x): %v, want ErrBadURL", err)
	}
}

// datedAsListed checks that src is a source.Dated whose ListDated reports
// what List does, each written within the last minute (the test wrote
// them).
func datedAsListed(t *testing.T, src source.Source) {
	t.Helper()
	ctx := context.Background()
	d, ok := src.(source.Dated)
	if !ok {
		t.Fatalf("%s is not a source.Dated", src)
	}
	var listed, dated []string
	if err := src.List(ctx, func(h string) error { listed = append(listed, h); return nil }); err != nil {
		t.Fatal(err)
	}
	err := d.ListDated(ctx, func(h string, written time.Time) error {
		if age := time.Since(written); age < -time.Minute || age > time.Minute {
			t.Errorf("%s: %s.narinfo written %v ago", src, h, age)
		}
		dated = append(dated, h)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) == 0 || !slices.Equal(listed, dated) {
		t.Errorf("%s: ListDated = %v, List = %v", src, dated, listed)
	}
}

func readAll(t *testing.T, s source.Source, url string) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("%s: Open(%s): %v", s, url, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: read %s: %v", s, url, err)
	}
	return b
}
