// Package repo is the front door of a nardedup repository: it finds the
// backend a location names, creates a repository or opens one (its
// configuration, its local index cache, the chunk store and the NAR store
// over it), and hands those to the commands that work on it.
//
// A repository is a set of objects on a backend.Backend, laid out as
// package layout says. Everything a process keeps of it locally (the
// local index) is derived data under an index cache directory, one file a
// role, so that a server and an ingest on one machine do not share one.
package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/narstore"
)

// ErrNoRepository is wrapped by Open and LoadConfig when the backend holds
// no repository.
var ErrNoRepository = errors.New("holds no repository (nardedup ingest creates one)")

// OpenBackend opens the backend an existing repository's location names:
// an s3://BUCKET/PREFIX?… URL (see package s3; the scheme in any case) or
// a local directory, which must exist. It creates nothing, so that a
// command that only reads cannot leave an empty repository behind; see
// CreateBackend for the command that creates repositories.
//
// An empty location is refused, and so is any other leading "scheme:"
// (a letter, then letters, digits, '+', '-' or '.', then ':', with no '/'
// before it): "s3:bucket/prefix" or "file:///x" is a mistyped URL, not a
// directory. A directory whose name looks like that is written "./NAME".
func OpenBackend(ctx context.Context, location string) (backend.Backend, error) {
	return openBackend(ctx, location, false)
}

// CreateBackend is OpenBackend for a repository that may not exist yet: a
// missing local directory (and its parents) is created.
func CreateBackend(ctx context.Context, location string) (backend.Backend, error) {
	return openBackend(ctx, location, true)
}

func openBackend(ctx context.Context, location string, create bool) (backend.Backend, error) {
	if location == "" {
		return nil, errors.New("--repo is empty: give a directory or s3://BUCKET/PREFIX")
	}
	if scheme, ok := urlScheme(location); ok {
		if strings.EqualFold(scheme, "s3") && strings.HasPrefix(location[len(scheme)+1:], "//") {
			return s3.Open(ctx, location)
		}
		return nil, fmt.Errorf("--repo %q: not a directory or an s3://BUCKET/PREFIX URL (scheme %q unsupported; write ./%s for a directory of that name)", location, scheme+":", location)
	}
	if create {
		return local.Open(location)
	}
	be, err := local.OpenExisting(location)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--repo %s: no such directory, so it %w", location, ErrNoRepository)
	}
	return be, err
}

// urlScheme returns the scheme location begins with, as in a URL: a
// letter, then letters, digits, '+', '-' or '.', up to the first ':'.
func urlScheme(location string) (string, bool) {
	scheme, _, ok := strings.Cut(location, ":")
	if !ok || scheme == "" {
		return "", false
	}
	for i, r := range scheme {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case i > 0 && ('0' <= r && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return "", false
		}
	}
	return scheme, true
}

// Exists reports whether be holds a repository.
func Exists(ctx context.Context, be backend.Backend) (bool, error) {
	_, err := be.Stat(ctx, configKey)
	if errors.Is(err, backend.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("repo: %s: %w", be, err)
	}
	return true, nil
}

// Options configure Open.
type Options struct {
	// IndexCache is the directory of local index caches; empty means
	// nardedup in the user's cache directory. The index file is
	// IndexCache/<repository id>/<Role>.db.
	IndexCache string
	// Role names the local index file ("serve", "ingest", …).
	Role string
	// Chunks are the chunk store's options. Chunks.IndexPath, if set,
	// names the local index file and IndexCache and Role are unused.
	Chunks chunkstore.Options
	// ReadOnly opens the repository to read NARs only, as a server does.
	// A repository of format 2 or later, whose manifests all carry their
	// chunks' locations, is then read without a local index
	// (chunkstore.Options.NoIndex): nothing is listed or loaded at start.
	ReadOnly bool
}

// findIndex sets Chunks.IndexPath, unless set, to the role's index file
// of the repository with id repoID.
func (o *Options) findIndex(repoID string) error {
	if o.Chunks.IndexPath != "" {
		return nil
	}
	var err error
	o.Chunks.IndexPath, err = indexPath(o.IndexCache, repoID, o.Role)
	return err
}

// Repo is an open repository.
type Repo struct {
	be   backend.Backend
	cfg  Config
	cs   *chunkstore.Store
	nars *narstore.Store
}

// Open opens the repository on be: it loads the configuration, brings the
// local index up to date and opens the chunk and NAR stores. A store
// opened without a local index (Chunks.Candidates or Chunks.NoIndex, or
// ReadOnly on format 2) needs no index cache: none is looked for or made.
func Open(ctx context.Context, be backend.Backend, opts Options) (*Repo, error) {
	cfg, err := LoadConfig(ctx, be)
	if err != nil {
		return nil, err
	}
	switch {
	case opts.Chunks.Candidates > 0 || opts.Chunks.NoIndex:
		// No local index: none to find, and no cache directory made.
	case opts.ReadOnly && cfg.Version >= 2:
		opts.Chunks.NoIndex = true
	default:
		if err := opts.findIndex(cfg.ID); err != nil {
			return nil, err
		}
	}
	cs, err := chunkstore.Open(ctx, be, cfg.Chunks, opts.Chunks)
	if err != nil {
		return nil, err
	}
	nars, err := narstore.New(cs, cfg.NARs)
	if err != nil {
		cs.Close()
		return nil, err
	}
	return &Repo{be: be, cfg: cfg, cs: cs, nars: nars}, nil
}

// indexPath returns the local index file of a role for the repository with
// id repoID under the index cache directory cacheDir (empty: the user's
// cache directory), creating its directory.
func indexPath(cacheDir, repoID, role string) (string, error) {
	if cacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory for the local index (set --index-cache): %w", err)
		}
		cacheDir = filepath.Join(dir, "nardedup")
	}
	dir := filepath.Join(cacheDir, repoID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return filepath.Join(dir, role+".db"), nil
}

// RebuildIndex deletes the local index Open with opts would use and builds
// it again from the repository's index objects, or with fromPacks from the
// packs themselves (see chunkstore.Rebuild).
func RebuildIndex(ctx context.Context, be backend.Backend, opts Options, fromPacks bool) (*chunkstore.RebuildResult, error) {
	cfg, err := LoadConfig(ctx, be)
	if err != nil {
		return nil, err
	}
	if err := opts.findIndex(cfg.ID); err != nil {
		return nil, err
	}
	return chunkstore.Rebuild(ctx, be, cfg.Chunks, opts.Chunks, fromPacks)
}

// Backend returns the backend the repository is on.
func (r *Repo) Backend() backend.Backend { return r.be }

// Config returns the repository's configuration.
func (r *Repo) Config() Config { return r.cfg }

// Chunks returns the chunk store.
func (r *Repo) Chunks() *chunkstore.Store { return r.cs }

// NARs returns the NAR store: NARs, narinfos and tombstones.
func (r *Repo) NARs() *narstore.Store { return r.nars }

// Close flushes and closes the chunk store and its local index. The
// backend stays open: whoever opened it closes it.
func (r *Repo) Close() error { return r.cs.Close() }
