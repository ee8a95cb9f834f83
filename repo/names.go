package repo

import (
	"context"
	"errors"
	"fmt"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/repo/layout"
)

// namesCompleteKey is the key of the marker NamesComplete looks for.
var namesCompleteKey = layout.Key(layout.NamesComplete, "")

// NamesComplete reports whether the repository on be is known to hold
// the names object (narstore.Store.AddName) of every NAR it stores: it
// was created by a release that records them for every NAR it stores, or
// AddNames has since recorded those stored before. It is what lets an
// ingest dedup by names without being told to.
//
// The marker is a promise about the writers, not a check: a writer of a
// release before names objects were recorded by every write may still
// store a NAR without one. Ingest's names dedup then offers fewer
// candidates for that package and stores chunks it could have shared;
// what it stores is never wrong. AddNames records such NARs again.
func NamesComplete(ctx context.Context, be backend.Backend) (bool, error) {
	_, err := be.Stat(ctx, namesCompleteKey)
	switch {
	case errors.Is(err, backend.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("repo: %s: %s: %w", be, namesCompleteKey, err)
	}
	return true, nil
}

// markNamesComplete writes the marker NamesComplete looks for: one empty
// object, so that a crash leaves it either written or not.
func markNamesComplete(ctx context.Context, be backend.Backend) error {
	if err := backend.PutBytes(ctx, be, namesCompleteKey, nil); err != nil {
		return fmt.Errorf("repo: write %s: %w", namesCompleteKey, err)
	}
	return nil
}
