package narstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/pathstrip"
	"github.com/nardedup/nardedup/repo/layout"
)

// ErrNotFound is wrapped by lookups of a NAR or narinfo the store lacks.
var ErrNotFound = errors.New("narstore: not found")

// MaxNarInfoSize bounds a stored narinfo.
const MaxNarInfoSize = 1 << 20

// Store keeps NARs and narinfos on top of a chunk store.
type Store struct {
	cs  *chunkstore.Store
	be  backend.Backend
	opt pathstrip.Options
}

// New returns a Store over cs, cutting store paths as cfg says.
func New(cs *chunkstore.Store, cfg Config) (*Store, error) {
	opt, err := cfg.StripOptions()
	if err != nil {
		return nil, err
	}
	return &Store{cs: cs, be: cs.Backend(), opt: opt}, nil
}

// StoreDir returns the Nix store directory of the stored paths
// ("/nix/store").
func (s *Store) StoreDir() string { return s.opt.StoreDir }

// HasManifest reports whether the NAR with this SHA-256 is stored.
func (s *Store) HasManifest(ctx context.Context, narHash narfmt.Hash) (bool, error) {
	return s.exists(ctx, layout.ManifestOf(narHash).Key())
}

// HasNarInfo reports whether a narinfo is stored for the store path hash.
func (s *Store) HasNarInfo(ctx context.Context, hash string) (bool, error) {
	return s.exists(ctx, layout.NarInfoOf(hash).Key())
}

func (s *Store) exists(ctx context.Context, key string) (bool, error) {
	_, err := s.be.Stat(ctx, key)
	if errors.Is(err, backend.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("narstore: stat %s: %w", key, err)
	}
	return true, nil
}

// NarInfo returns the stored narinfo text of a store path hash.
func (s *Store) NarInfo(ctx context.Context, hash string) ([]byte, error) {
	return s.read(ctx, layout.NarInfoOf(hash).Key(), MaxNarInfoSize)
}

// ErrCondemned is wrapped when a NAR's manifest is condemned by a garbage
// collection still running: the NAR can neither be linked nor stored again
// until the collection has swept (HoldNAR waits for that).
var ErrCondemned = errors.New("narstore: the NAR's manifest is condemned by a running garbage collection")

// HoldNAR waits until the NAR with this SHA-256 is not condemned by a
// running garbage collection, then holds the store (see Hold) and returns
// the release. A caller that checks whether a NAR is stored and then
// stores it or links a narinfo to it does all of that inside HoldNAR.
func (s *Store) HoldNAR(ctx context.Context, narHash narfmt.Hash) (release func(), err error) {
	key := layout.ManifestOf(narHash).Key()
	for {
		if err := s.cs.WaitUncondemned(ctx, key); err != nil {
			return nil, fmt.Errorf("narstore: waiting for %s: %w", key, err)
		}
		release := s.cs.Lease().Hold()
		if !s.cs.Lease().IsCondemned(key) {
			return release, nil
		}
		release() // condemned meanwhile: wait without holding the store
	}
}

// Hold marks the start of an operation that will make new references to
// what the store holds; see chunkstore.Store.Lease. PutNAR holds the store
// by itself.
func (s *Store) Hold() (release func()) { return s.cs.Lease().Hold() }

// PutNarInfo stores a narinfo text for a store path hash whose NAR (by
// SHA-256) is already stored. It refuses a narinfo whose NAR is missing.
func (s *Store) PutNarInfo(ctx context.Context, hash string, narHash narfmt.Hash, text []byte) error {
	if err := s.cs.Lease().CheckLease(); err != nil {
		return fmt.Errorf("narstore: not writing narinfo %s: %w", hash, err)
	}
	if key := layout.ManifestOf(narHash).Key(); s.cs.Lease().IsCondemned(key) {
		return fmt.Errorf("narstore: narinfo %s: %s: %w", hash, key, ErrCondemned)
	}
	ok, err := s.HasManifest(ctx, narHash)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("narstore: narinfo %s: its NAR is not stored: %w", hash, ErrNotFound)
	}
	if name := packageName(text); name != "" {
		if err := s.putName(ctx, name, narHash); err != nil {
			return err
		}
	}
	return s.putNarInfo(ctx, hash, text)
}

// packageName returns the package name (storepath.PackageName) of the
// store path a narinfo's text names, or "" when it names none that
// parses.
func packageName(text []byte) string {
	ni, err := narinfo.Parse(bytes.NewReader(text))
	if err != nil {
		return ""
	}
	p, err := storepath.ParseBase(path.Base(ni.StorePath))
	if err != nil {
		return ""
	}
	return storepath.PackageName(p.Name)
}

// putName writes the names object saying that the NAR whose SHA-256 is
// narHash belongs to package name.
func (s *Store) putName(ctx context.Context, name string, narHash narfmt.Hash) error {
	key := layout.NameOf(name, narHash).Key()
	if err := s.be.Put(ctx, key, bytes.NewReader(nil), 0); err != nil {
		return fmt.Errorf("narstore: write %s: %w", key, err)
	}
	return nil
}

func (s *Store) putNarInfo(ctx context.Context, hash string, text []byte) error {
	return s.putText(ctx, layout.NarInfoOf(hash), text)
}

// ErrNoLocations is wrapped when a store without an index meets a
// manifest that does not say where its chunks lie.
var ErrNoLocations = errors.New("narstore: manifest without chunk locations (run nardedup upgrade)")

// Manifest returns the manifest of the NAR with this SHA-256.
//
// A store without a local index can only read manifests that carry their
// chunks' locations. One without may come from a cache that kept it from
// before the repository was upgraded: it is read again past the cache
// (backend.Forget), and is an error wrapping ErrNoLocations if it still
// has none.
func (s *Store) Manifest(ctx context.Context, narHash narfmt.Hash) (*Manifest, error) {
	m, err := s.manifest(ctx, narHash)
	if err != nil || m.Locations != nil || s.cs.HasIndex() {
		return m, err
	}
	key := layout.ManifestOf(narHash).Key()
	backend.Forget(s.be, key)
	if m, err = s.manifest(ctx, narHash); err == nil && m.Locations == nil {
		err = fmt.Errorf("%s: %w", key, ErrNoLocations)
	}
	return m, err
}

func (s *Store) manifest(ctx context.Context, narHash narfmt.Hash) (*Manifest, error) {
	key := layout.ManifestOf(narHash).Key()
	data, err := s.read(ctx, key, maxManifestSize)
	if err != nil {
		return nil, err
	}
	m, err := DecodeManifest(data, s.maxPaths())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if m.NarHash != narHash {
		return nil, fmt.Errorf("%w: %s names another NAR", ErrCorrupt, key)
	}
	return m, nil
}

// AddLocations rewrites the manifest of the NAR with this SHA-256 with
// its chunks' locations, if it has none. It reports whether it did.
func (s *Store) AddLocations(ctx context.Context, narHash narfmt.Hash) (bool, error) {
	m, err := s.manifest(ctx, narHash)
	if err != nil || m.Locations != nil {
		return false, err
	}
	if err := s.locateChunks(ctx, m, nil); err != nil {
		return false, fmt.Errorf("narstore: NAR sha256:%s: %w", narHash.String(), err)
	}
	enc := m.Encode()
	key := layout.ManifestOf(narHash).Key()
	if err := s.be.Put(ctx, key, bytes.NewReader(enc), int64(len(enc))); err != nil {
		return false, fmt.Errorf("narstore: write %s: %w", key, err)
	}
	return true, nil
}

func (s *Store) maxPaths() int {
	if s.opt.MaxPaths > 0 {
		return s.opt.MaxPaths
	}
	return pathstrip.DefaultMaxPaths
}

func (s *Store) read(ctx context.Context, key string, max int64) ([]byte, error) {
	rc, err := s.be.Get(ctx, key, 0, -1)
	if errors.Is(err, backend.ErrNotExist) {
		return nil, fmt.Errorf("narstore: %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("narstore: read %s: %w", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("narstore: read %s: %w", key, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrCorrupt, key, max)
	}
	return data, nil
}
