package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
)

// revive looks for the tombstone of store path h, which has no narinfo
// (see package retention), and returns the narinfo text to write for it.
// When the tombstone describes the same NAR as the source's narinfo ni,
// the store path comes back as it was forgotten: the NAR is stored as
// usual, but the tombstone's narinfo, with its signatures, is written. When
// it describes another NAR (a newer build under that path), the source's
// narinfo is written. Either way the tombstone is deleted after the
// narinfo is written (buryTombstone).
func (r *run) revive(ctx context.Context, h string, ni *narinfo.NarInfo, narHash narfmt.Hash, text []byte) ([]byte, error) {
	old, err := r.st.Tombstone(ctx, h)
	if errors.Is(err, narstore.ErrNotFound) {
		return text, nil
	}
	if err != nil {
		return nil, err
	}
	oldNI, oldHash, err := r.parse(h, old)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (delete it to ingest this path)", layout.TombstoneOf(h).Key(), err)
	}
	r.tombstones.Store(h, true)
	if oldHash == narHash && oldNI.NarSize == ni.NarSize {
		return old, nil
	}
	return text, nil
}

// buryTombstone deletes the tombstone of store path h, if revive found
// one, once the path's narinfo is written.
func (r *run) buryTombstone(ctx context.Context, h string) error {
	if _, ok := r.tombstones.LoadAndDelete(h); !ok {
		return nil
	}
	err := r.st.DeleteTombstone(ctx, h)
	if err != nil && !errors.Is(err, narstore.ErrNotFound) {
		return fmt.Errorf("narinfo written, but its tombstone stays: %w", err)
	}
	r.add(func(s *Stats) { s.Revived++ })
	return nil
}
