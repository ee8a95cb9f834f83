package narstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/repo/layout"
)

// Forgetting a store path deletes its narinfo, after which the server
// answers 404 for it and garbage collection may reclaim its NAR. A
// tombstone keeps the forgotten narinfo's text, signatures and all, under
// tombstones/<hash>.narinfo, so that ingesting the same NAR under that
// store path again writes back the narinfo as it was. Tombstones are never
// served and keep nothing alive.

// PutTombstone stores text, a forgotten narinfo, as the tombstone of a
// store path hash.
func (s *Store) PutTombstone(ctx context.Context, hash string, text []byte) error {
	return s.putText(ctx, layout.TombstoneOf(hash), text)
}

// Tombstone returns the tombstone text of a store path hash, or an error
// wrapping ErrNotFound when there is none.
func (s *Store) Tombstone(ctx context.Context, hash string) ([]byte, error) {
	return s.read(ctx, layout.TombstoneOf(hash).Key(), MaxNarInfoSize)
}

// DeleteTombstone deletes the tombstone of a store path hash. It returns an
// error wrapping ErrNotFound when there is none.
func (s *Store) DeleteTombstone(ctx context.Context, hash string) error {
	return s.delete(ctx, layout.TombstoneOf(hash).Key())
}

// ListTombstones calls fn with the store path hash of every tombstone, on
// the calling goroutine.
func (s *Store) ListTombstones(ctx context.Context, fn func(hash string) error) error {
	return s.listHashes(ctx, layout.Tombstone, fn)
}

// ForgetNarInfo deletes the narinfo of a store path hash and returns the
// text it had. With tombstone set it first stores that text as the path's
// tombstone, so that a crash between the two writes leaves the narinfo and
// its tombstone, never a narinfo lost without one. It returns an error
// wrapping ErrNotFound when the store path has no narinfo.
func (s *Store) ForgetNarInfo(ctx context.Context, hash string, tombstone bool) ([]byte, error) {
	text, err := s.NarInfo(ctx, hash)
	if err != nil {
		return nil, err
	}
	if tombstone {
		if err := s.PutTombstone(ctx, hash, text); err != nil {
			return nil, err
		}
	}
	if err := s.delete(ctx, layout.NarInfoOf(hash).Key()); err != nil {
		return nil, err
	}
	return text, nil
}

func (s *Store) delete(ctx context.Context, key string) error {
	err := s.be.Delete(ctx, key)
	if errors.Is(err, backend.ErrNotExist) {
		return fmt.Errorf("narstore: %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("narstore: delete %s: %w", key, err)
	}
	return nil
}
