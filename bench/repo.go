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
)

// repo is a scratch repository on the local backend.
type repo struct {
	dir       string
	indexPath string
	cfg       chunkstore.Config
	be        backend.Backend
	cs        *chunkstore.Store
	st        *narstore.Store // nil for a bare chunk store
}

// newRepo creates a repository with cfg in the empty directory dir (its
// index file next to it) and opens it. withNAR also opens a narstore on it.
func newRepo(ctx context.Context, dir string, cfg chunkstore.Config, withNAR bool) (*repo, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	be, err := local.Open(filepath.Join(dir, "repo"))
	if err != nil {
		return nil, fmt.Errorf("bench: open scratch repository: %w", err)
	}
	if cfg, err = chunkstore.Init(ctx, be, cfg); err != nil {
		return nil, fmt.Errorf("bench: create scratch repository: %w", err)
	}
	r := &repo{dir: dir, indexPath: filepath.Join(dir, "index.db"), cfg: cfg, be: be}
	r.cs, err = chunkstore.Open(ctx, be, chunkstore.Options{IndexPath: r.indexPath})
	if err != nil {
		return nil, fmt.Errorf("bench: open scratch repository: %w", err)
	}
	if withNAR {
		if r.st, err = narstore.New(r.cs); err != nil {
			r.cs.Close()
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	return r, nil
}

// objects lists the repository's objects and returns their bytes by kind
// (the first element of the key: packs, index, manifests, narinfo, config)
// and in total.
func (r *repo) objects(ctx context.Context) (map[string]int64, int64, error) {
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
func (r *repo) close() (int64, error) {
	if err := r.cs.Close(); err != nil {
		return 0, fmt.Errorf("bench: close scratch repository: %w", err)
	}
	fi, err := os.Stat(r.indexPath)
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	return fi.Size(), nil
}

// remove closes the store if needed and deletes the repository.
func (r *repo) remove() error {
	return os.RemoveAll(r.dir)
}

// sweepConfig returns the default configuration with an average chunk size
// of 1<<avgBits (min a quarter, max four times that), a zstd level and a
// group size.
func sweepConfig(avgBits, level, group int) chunkstore.Config {
	cfg := chunkstore.DefaultConfig()
	cfg.Chunker.AvgBits = avgBits
	cfg.Chunker.MinSize = 1 << (avgBits - 2)
	cfg.Chunker.MaxSize = 1 << (avgBits + 2)
	cfg.ZstdLevel = level
	cfg.GroupSize = group
	return cfg
}
