package retention

import (
	"context"
	"errors"
	"fmt"

	"github.com/nardedup/nardedup/narstore"
)

// Options configure Forget.
type Options struct {
	// DryRun selects and reports, and changes nothing.
	DryRun bool
	// Tombstones keeps each forgotten narinfo under tombstones/ (see the
	// package documentation).
	Tombstones bool
	// Freed, if set, returns how many bytes garbage collection would
	// reclaim once the narinfos of the store path hashes in drop are gone.
	// Forget calls it before forgetting anything, in a dry run too.
	Freed func(ctx context.Context, drop map[string]bool) (int64, error)
}

// Report is what Forget did.
type Report struct {
	Selection
	// Forgotten lists the narinfos deleted (in a dry run, that would be):
	// the selected paths but those whose narinfo vanished meanwhile.
	Forgotten  []Path
	NarBytes   int64 // NarSize summed over Forgotten
	Tombstoned int   // tombstones written
	FreedBytes int64 // what Options.Freed reported; -1 without it
}

// Forget deletes the narinfos r selects in st. It stops at the first
// error, with the report of what it had done by then.
func Forget(ctx context.Context, st *narstore.Store, r Rule, o Options) (*Report, error) {
	sel, err := Select(ctx, st, r)
	if err != nil {
		return nil, err
	}
	rep := &Report{Selection: *sel, FreedBytes: -1}
	if o.Freed != nil {
		drop := make(map[string]bool, len(sel.Paths))
		for _, p := range sel.Paths {
			drop[p.Hash] = true
		}
		n, err := o.Freed(ctx, drop)
		if err != nil {
			return rep, fmt.Errorf("retention: space freed (nothing was forgotten): %w", err)
		}
		rep.FreedBytes = n
	}
	if o.DryRun {
		rep.Forgotten = sel.Paths
		rep.NarBytes = sel.NarBytes()
		return rep, nil
	}
	done := make([]bool, len(sel.Paths))
	err = parallel(ctx, len(sel.Paths), func(ctx context.Context, i int) error {
		_, err := st.ForgetNarInfo(ctx, sel.Paths[i].Hash, o.Tombstones)
		if errors.Is(err, narstore.ErrNotFound) {
			return nil // forgotten by someone else
		}
		if err != nil {
			return fmt.Errorf("retention: forget %s: %w", describePath(sel.Paths[i]), err)
		}
		done[i] = true
		return nil
	})
	for i, p := range sel.Paths {
		if done[i] {
			rep.Forgotten = append(rep.Forgotten, p)
			rep.NarBytes += p.NarSize
		}
	}
	if o.Tombstones {
		rep.Tombstoned = len(rep.Forgotten)
	}
	return rep, err
}

func describePath(p Path) string {
	if p.StorePath != "" {
		return p.StorePath
	}
	return p.Hash
}
