package repo_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/repo"
)

func TestCreateOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	be, err := repo.OpenBackend(ctx, filepath.Join(dir, "repo"))
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

func TestOpenBackendScheme(t *testing.T) {
	for _, loc := range []string{"http://example/repo", "file:///tmp/x"} {
		if _, err := repo.OpenBackend(context.Background(), loc); err == nil {
			t.Errorf("OpenBackend(%q) succeeded; want an unsupported scheme error", loc)
		}
	}
}
