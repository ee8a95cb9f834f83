package narstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/repo/layout"
)

// ListNarInfos calls fn with the store path hash of every stored narinfo,
// on the calling goroutine.
func (s *Store) ListNarInfos(ctx context.Context, fn func(hash string) error) error {
	return s.listHashes(ctx, layout.NarInfo, fn)
}

// ListNarInfosStored calls fn, on the calling goroutine, with the store
// path hash of every stored narinfo and when it was stored (zero where the
// backend cannot tell).
func (s *Store) ListNarInfosStored(ctx context.Context, fn func(hash string, stored time.Time) error) error {
	err := layout.List(ctx, s.be, layout.NarInfo, func(h string, fi backend.Info) error {
		return fn(h, fi.ModTime)
	})
	if err != nil {
		return fmt.Errorf("narstore: list narinfo: %w", err)
	}
	return nil
}

// listHashes calls fn with the name of every object of kind t: narinfos
// and tombstones are named by their store path hash.
func (s *Store) listHashes(ctx context.Context, t layout.Type, fn func(hash string) error) error {
	err := layout.List(ctx, s.be, t, func(h string, _ backend.Info) error {
		return fn(h)
	})
	if err != nil {
		return fmt.Errorf("narstore: list %s: %w", t, err)
	}
	return nil
}

// putText stores a narinfo's text as the object h.
func (s *Store) putText(ctx context.Context, h layout.Handle, text []byte) error {
	if len(text) > MaxNarInfoSize {
		return fmt.Errorf("narstore: %s: %d bytes is too large", h, len(text))
	}
	if err := s.be.Put(ctx, h.Key(), bytes.NewReader(text), int64(len(text))); err != nil {
		return fmt.Errorf("narstore: write %s: %w", h, err)
	}
	return nil
}
