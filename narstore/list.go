package narstore

import (
	"context"
	"fmt"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/repo/layout"
)

// ListNarInfos calls fn with the store path hash of every stored narinfo,
// on the calling goroutine.
func (s *Store) ListNarInfos(ctx context.Context, fn func(hash string) error) error {
	err := layout.List(ctx, s.be, layout.NarInfo, func(h string, _ backend.Info) error {
		return fn(h)
	})
	if err != nil {
		return fmt.Errorf("narstore: list narinfos: %w", err)
	}
	return nil
}
