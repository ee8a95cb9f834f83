package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/internal/s3test"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/source"
)

// An s3:// SOURCE is opened on S3 with the credentials of the
// environment, and lists what the same cache in a directory lists.
func TestOpenCacheS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	ctx := context.Background()
	bucket := srv.NewBucket(t)
	dir, err := sample.WriteBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := s3.Open(ctx, srv.URL(bucket, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		return backend.PutBytes(ctx, b, filepath.ToSlash(rel), data)
	})
	if err != nil {
		t.Fatal(err)
	}

	src, err := openCache(ctx, srv.URL(bucket, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hashes(t, src), hashes(t, source.NewDir(dir)); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("%s lists %v; want %v", src, got, want)
	}
	// An S3 Inventory of the bucket lists the cache under the URL's prefix.
	inv := t.TempDir()
	var rows strings.Builder
	for _, h := range hashes(t, src) {
		rows.WriteString("\"" + bucket + "\",\"cache/" + h + ".narinfo\"\n\"" + bucket + "\",\"other/" + h + "x.narinfo\"\n")
	}
	manifest := filepath.Join(inv, "manifest.json")
	if err := os.WriteFile(manifest, []byte(`{"fileFormat": "CSV", "fileSchema": "Bucket, Key", "files": [{"key": "data/1.csv"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inv, "1.csv"), []byte(rows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	listed, n, err := openSource(ctx, srv.URL(bucket, "cache"), manifest)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hashes(t, listed), hashes(t, src); !slices.Equal(got, want) || n != len(want) {
		t.Errorf("the inventory lists %v, counted %d; want %v", got, n, want)
	}
	if _, err := openCache(ctx, srv.URL("no-such-bucket", "")); err == nil || !strings.HasPrefix(err.Error(), "source: ") {
		t.Errorf("missing bucket: %v; want an error starting with \"source: \"", err)
	}
}

func hashes(t *testing.T, src source.Source) []string {
	t.Helper()
	var hs []string
	if err := src.List(context.Background(), func(h string) error { hs = append(hs, h); return nil }); err != nil {
		t.Fatalf("%s: List: %v", src, err)
	}
	return hs
}
