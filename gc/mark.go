package gc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
)

// markStats counts what a mark reached.
type markStats struct {
	NarInfos int
	NarBytes int64
	NARs     int // distinct manifests

	ExcludedNarInfos int
	ExcludedBytes    int64 // of the excluded narinfo objects

	Names []narName // with markOptions.names: every narinfo marked
}

// narName is a marked store path's name (without its hash) and NAR.
type narName struct {
	name    string
	narHash narfmt.Hash
}

// markOptions configure mark.
type markOptions struct {
	since   time.Time         // mark only narinfos stored at or after (zero: all)
	exclude func(string) bool // narinfos (by hash) to treat as gone
	workers int
	names   bool // collect markStats.Names
	// progress, if set, is called with NarInfos and NarBytes after each
	// narinfo marked, under the lock that guards them.
	progress func(narInfos int, narBytes int64)
}

// mark marks live everything the narinfos stored at or after since (all
// of them for a zero since), except those exclude rejects, reach: their manifests, the chunks of their
// recipe and positions streams and the residue chunks their recipes list.
// A narinfo, manifest or recipe that cannot be read stops the mark: a
// collection must not guess what a damaged NAR needs.
func mark(ctx context.Context, be backend.Backend, st *narstore.Store, live *liveSet, o markOptions) (markStats, error) {
	var ms markStats
	ids := make(chan []chunkstore.ID, o.workers)
	var mu sync.Mutex // guards ms and the manifests bucket
	writeErr := make(chan error, 1)
	go func() {
		var err error
		for batch := range ids {
			if err == nil {
				err = live.addChunks(batch)
			}
		}
		if err == nil {
			err = live.flush()
		}
		writeErr <- err
	}()
	pick := func(h string, fi backend.Info) bool {
		if !o.since.IsZero() && fi.ModTime.Before(o.since) {
			return false
		}
		if o.exclude != nil && o.exclude(h) {
			mu.Lock()
			ms.ExcludedNarInfos++
			ms.ExcludedBytes += fi.Size
			mu.Unlock()
			return false
		}
		return true
	}
	err := forNarInfos(ctx, be, o.workers, pick, func(ctx context.Context, h string) error {
		return markNarInfo(ctx, st, live, h, ids, &mu, &ms, o)
	})
	close(ids)
	werr := <-writeErr
	if err != nil {
		return ms, err
	}
	return ms, werr
}

// forNarInfos lists the narinfos and runs work, from workers goroutines,
// on the store path hash of each that pick (called by the listing, one at
// a time) accepts. The first error stops it.
func forNarInfos(ctx context.Context, be backend.Backend, workers int, pick func(string, backend.Info) bool,
	work func(ctx context.Context, h string) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hashes := make(chan string, 256)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range hashes {
				if err := work(ctx, h); err != nil {
					cancel(err)
					for range hashes {
					}
					return
				}
			}
		}()
	}
	lerr := layout.List(ctx, be, layout.NarInfo, func(h string, fi backend.Info) error {
		if pick != nil && !pick(h, fi) {
			return nil
		}
		select {
		case hashes <- h:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(hashes)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if lerr != nil {
		return fmt.Errorf("gc: list narinfos: %w", lerr)
	}
	return ctx.Err()
}

func markNarInfo(ctx context.Context, st *narstore.Store, live *liveSet, h string, ids chan<- []chunkstore.ID, mu *sync.Mutex, ms *markStats, o markOptions) error {
	ni, narHash, err := loadNarInfo(ctx, st, h)
	if err != nil || ni == nil {
		return err
	}
	key := layout.NarInfoOf(h).Key()
	mkey := layout.ManifestOf(narHash).Key()
	mu.Lock()
	ms.NarInfos++
	ms.NarBytes += int64(ni.NarSize)
	if o.progress != nil {
		o.progress(ms.NarInfos, ms.NarBytes)
	}
	if o.names {
		n := narName{name: path.Base(ni.StorePath), narHash: narHash}
		if _, name, ok := strings.Cut(n.name, "-"); ok {
			n.name = name
		}
		ms.Names = append(ms.Names, n)
	}
	isNew, err := live.markManifest(mkey)
	if isNew {
		ms.NARs++
	}
	mu.Unlock()
	if err != nil || !isNew {
		return err
	}
	m, err := st.Manifest(ctx, narHash)
	if err != nil {
		return fmt.Errorf("gc: marking %s: %w (nothing was deleted; run nardedup verify)", key, err)
	}
	if err := live.addNamed(namedPacks(m)); err != nil {
		return err
	}
	batch := make([]chunkstore.ID, 0, len(m.Recipe)+len(m.Positions)+1024)
	err = manifestChunks(ctx, st, m, func(id chunkstore.ID) error {
		batch = append(batch, id)
		if len(batch) >= 4096 {
			select {
			case ids <- batch:
			case <-ctx.Done():
				return ctx.Err()
			}
			batch = make([]chunkstore.ID, 0, 4096)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gc: marking %s: recipe of %s: %w (nothing was deleted; run nardedup verify)", key, mkey, err)
	}
	select {
	case ids <- batch:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// loadNarInfo reads and parses the narinfo of store path hash h. It
// returns a nil ni for one forgotten meanwhile.
func loadNarInfo(ctx context.Context, st *narstore.Store, h string) (ni *narinfo.NarInfo, narHash narfmt.Hash, err error) {
	text, err := st.NarInfo(ctx, h)
	if errors.Is(err, narstore.ErrNotFound) {
		return nil, narHash, nil
	}
	if err != nil {
		return nil, narHash, err
	}
	key := layout.NarInfoOf(h).Key()
	ni, err = narinfo.ParseStoreDir(bytes.NewReader(text), st.StoreDir())
	if err != nil {
		return nil, narHash, fmt.Errorf("gc: %s: %w (nothing was deleted; forget the path or repair it)", key, err)
	}
	narHash, err = ni.NarSHA256()
	if err != nil {
		return nil, narHash, fmt.Errorf("gc: %s: %w (nothing was deleted)", key, err)
	}
	return ni, narHash, nil
}

// manifestChunks calls fn with every chunk a manifest reaches: those of
// its recipe and positions streams and the residue chunks its recipe
// lists.
func manifestChunks(ctx context.Context, st *narstore.Store, m *narstore.Manifest, fn func(chunkstore.ID) error) error {
	for _, refs := range [][]chunkstore.Ref{m.Recipe, m.Positions} {
		for _, r := range refs {
			if err := fn(r.ID); err != nil {
				return err
			}
		}
	}
	return st.ResidueChunks(ctx, m, func(r chunkstore.Ref) error { return fn(r.ID) })
}

// namedPacks returns the packs m's location table names (none without
// one): while m is kept, the forward records of those that are gone are
// needed.
func namedPacks(m *narstore.Manifest) []chunkstore.ID {
	if m.Locations == nil {
		return nil
	}
	return m.Locations.Packs()
}
