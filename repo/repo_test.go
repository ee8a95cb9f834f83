package repo_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/repo"
)

func TestCreateOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	be, err := repo.CreateBackend(ctx, filepath.Join(dir, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Open(ctx, be, repo.Options{IndexCache: dir, Role: "test"}); !errors.Is(err, repo.ErrNoRepository) {
		t.Fatalf("Open of an empty backend: %v; want ErrNoRepository", err)
	}
	if ok, err := repo.Exists(ctx, be); ok || err != nil {
		t.Fatalf("Exists before Create = %v, %v; want false, nil", ok, err)
	}
	cfg, err := repo.Create(ctx, be, repo.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Create(ctx, be, repo.DefaultConfig()); err == nil {
		t.Fatal("a second Create succeeded")
	}
	if ok, err := repo.Exists(ctx, be); !ok || err != nil {
		t.Fatalf("Exists after Create = %v, %v; want true, nil", ok, err)
	}
	rp, err := repo.Open(ctx, be, repo.Options{IndexCache: dir, Role: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if rp.Config().ID != cfg.ID || rp.NARs().StoreDir() != cfg.NARs.StoreDir {
		t.Errorf("opened config %+v; want %+v", rp.Config(), cfg)
	}
	if err := rp.Close(); err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(dir, cfg.ID, "test.db")
	if _, err := os.Stat(index); err != nil {
		t.Errorf("local index not at %s: %v", index, err)
	}
	res, err := repo.RebuildIndex(ctx, be, repo.Options{IndexCache: dir, Role: "test"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Packs != 0 || res.Chunks != 0 {
		t.Errorf("rebuilt index of an empty repository: %+v", res)
	}
}

// OpenBackend creates nothing, and a location that is empty or begins
// with a URL scheme other than s3:// (in any case) is refused rather than
// taken for a local directory.
func TestOpenBackendLocation(t *testing.T) {
	ctx := context.Background()
	t.Chdir(t.TempDir())
	if err := os.Mkdir("a:b", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir("dir", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		loc     string
		wantErr string // empty: opens
	}{
		{"", "--repo is empty"},
		{"missing", "no such directory"},
		{"missing/sub", "no such directory"},
		{"s3:bucket/prefix", `scheme "s3:" unsupported`},
		{"S3:bucket", `scheme "S3:" unsupported`},
		{"s3:/bucket", `scheme "s3:" unsupported`},
		{"http://example/repo", `scheme "http:" unsupported`},
		{"file:///tmp/x", `scheme "file:" unsupported`},
		{"gs://bucket/x", `scheme "gs:" unsupported`},
		{"a:b", `write ./a:b`},
		{"dir", ""},
		{"./a:b", ""},
		{"dir/../a:b", ""},
	} {
		be, err := repo.OpenBackend(ctx, tc.loc)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("OpenBackend(%q): %v", tc.loc, err)
			} else {
				be.Close()
			}
			continue
		}
		if err == nil {
			be.Close()
			t.Errorf("OpenBackend(%q) succeeded; want an error containing %q", tc.loc, tc.wantErr)
		} else if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("OpenBackend(%q): %v; want an error containing %q", tc.loc, err, tc.wantErr)
		}
	}
	if _, err := os.Stat("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenBackend created a missing directory (stat: %v)", err)
	}
	if ents, _ := os.ReadDir("."); len(ents) != 2 {
		t.Errorf("OpenBackend left %d entries in the current directory; want the 2 made here", len(ents))
	}
}

// The scheme s3:// is matched in any case: S3:// reaches the S3 backend
// (which then fails on the missing bucket), not the "unsupported" error.
func TestOpenBackendS3AnyCase(t *testing.T) {
	for _, loc := range []string{"S3://", "S3://b/p?endpoint=127.0.0.1:1&tls=false"} {
		_, err := repo.OpenBackend(context.Background(), loc)
		if err == nil || strings.Contains(err.Error(), "unsupported") || !strings.HasPrefix(err.Error(), "s3") {
			t.Errorf("OpenBackend(%q): %v; want an error from the S3 backend", loc, err)
		}
	}
}

// A store opened to write without a local index (names dedup) needs no
// index cache: nothing is made under it.
func TestOpenCandidatesMakesNoIndexCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	be, err := repo.CreateBackend(ctx, filepath.Join(dir, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Create(ctx, be, repo.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	rp, err := repo.Open(ctx, be, repo.Options{IndexCache: cache, Role: "ingest", Chunks: chunkstore.Options{Candidates: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cache); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("index cache %s made by a store without an index: %v", cache, err)
	}
}
