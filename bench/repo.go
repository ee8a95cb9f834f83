package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo"
)

// scratchRepo is a scratch repository on the local backend.
type scratchRepo struct {
	dir       string
	indexPath string
	cfg       repo.Config
	be        backend.Backend
	cs        *chunkstore.Store
	st        *narstore.Store
	rp        *repo.Repo
}

// newRepo creates a repository with cfg in the empty directory dir (its
// index file next to it) and opens it.
func newRepo(ctx context.Context, dir string, cfg repo.Config) (*scratchRepo, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	be, err := local.Open(filepath.Join(dir, "repo"))
	if err != nil {
		return nil, fmt.Errorf("bench: open scratch repository: %w", err)
	}
	if cfg, err = repo.Create(ctx, be, cfg); err != nil {
		return nil, fmt.Errorf("bench: create scratch repository: %w", err)
	}
	indexPath := filepath.Join(dir, "index.db")
	rp, err := repo.Open(ctx, be, repo.Options{Chunks: chunkstore.Options{IndexPath: indexPath}})
	if err != nil {
		return nil, fmt.Errorf("bench: open scratch repository: %w", err)
	}
	return &scratchRepo{dir: dir, indexPath: indexPath, cfg: cfg, be: be, cs: rp.Chunks(), st: rp.NARs(), rp: rp}, nil
}

// objects lists the repository's objects and returns their bytes by kind
// (the first element of the key: packs, index, manifests, narinfo, config)
// and in total.
func (r *scratchRepo) objects(ctx context.Context) (map[string]int64, int64, error) {
	kinds := make(map[string]int64)
	var total int64
	err := r.be.List(ctx, "", func(fi backend.Info) error {
		kind, _, _ := strings.Cut(fi.Key, "/")
		kinds[kind] += fi.Size
		total += fi.Size
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("bench: list %s: %w", r.be, err)
	}
	return kinds, total, nil
}

// close closes the store and returns the size of its local index file.
func (r *scratchRepo) close() (int64, error) {
	if err := r.rp.Close(); err != nil {
		return 0, fmt.Errorf("bench: close scratch repository: %w", err)
	}
	fi, err := os.Stat(r.indexPath)
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	return fi.Size(), nil
}

// remove closes the store if needed and deletes the repository.
func (r *scratchRepo) remove() error {
	return os.RemoveAll(r.dir)
}

// sweepConfig returns the default configuration with an average chunk size
// of 1<<avgBits (min a quarter, max four times that), a zstd level and a
// group size.
func sweepConfig(avgBits, level, group int) repo.Config {
	cfg := repo.DefaultConfig()
	cfg.Chunks.Chunker.AvgBits = avgBits
	cfg.Chunks.Chunker.MinSize = 1 << (avgBits - 2)
	cfg.Chunks.Chunker.MaxSize = 1 << (avgBits + 2)
	cfg.Chunks.ZstdLevel = level
	cfg.Chunks.GroupSize = group
	return cfg
}
