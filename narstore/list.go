package narstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

// ListNarInfos calls fn with the store path hash of every stored narinfo,
// on the calling goroutine.
func (s *Store) ListNarInfos(ctx context.Context, fn func(hash string) error) error {
	err := s.be.List(ctx, "narinfo/", func(fi backend.Info) error {
		h, ok := strings.CutSuffix(strings.TrimPrefix(fi.Key, "narinfo/"), ".narinfo")
		if !ok || strings.Contains(h, "/") {
			return nil
		}
		return fn(h)
	})
	if err != nil {
		return fmt.Errorf("narstore: list narinfos: %w", err)
	}
	return nil
}
