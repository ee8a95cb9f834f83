package gc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narstore"
)

// markStats counts what a mark reached.
type markStats struct {
	NarInfos int
	NarBytes int64
	NARs     int // distinct manifests

	ExcludedNarInfos int
	ExcludedBytes    int64 // of the excluded narinfo objects
}

// mark marks live everything the narinfos stored at or after since (all
// of them for a zero since), except those exclude rejects, reach: their manifests, the chunks of their
// recipe and positions streams and the residue chunks their recipes list.
// A narinfo, manifest or recipe that cannot be read stops the mark: a
// collection must not guess what a damaged NAR needs.
func mark(ctx context.Context, st *narstore.Store, live *liveSet, since time.Time, workers int, exclude func(string) bool) (markStats, error) {
	var ms markStats
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hashes := make(chan string, 256)
	ids := make(chan []chunkstore.ID, workers)
	var mu sync.Mutex // guards ms and the manifests bucket
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range hashes {
				if err := markNarInfo(ctx, st, live, h, ids, &mu, &ms); err != nil {
					cancel(err)
					for range hashes {
					}
					return
				}
			}
		}()
	}
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
	be := st.Chunks().Backend()
	lerr := be.List(ctx, "narinfo/", func(fi backend.Info) error {
		h, ok := strings.CutSuffix(strings.TrimPrefix(fi.Key, "narinfo/"), ".narinfo")
		if !ok || strings.Contains(h, "/") {
			return nil
		}
		if !since.IsZero() && fi.ModTime.Before(since) {
			return nil
		}
		if exclude != nil && exclude(h) {
			mu.Lock()
			ms.ExcludedNarInfos++
			ms.ExcludedBytes += fi.Size
			mu.Unlock()
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
	close(ids)
	werr := <-writeErr
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return ms, err
	}
	if lerr != nil {
		return ms, fmt.Errorf("gc: list narinfos: %w", lerr)
	}
	if err := ctx.Err(); err != nil {
		return ms, err
	}
	return ms, werr
}

func markNarInfo(ctx context.Context, st *narstore.Store, live *liveSet, h string, ids chan<- []chunkstore.ID, mu *sync.Mutex, ms *markStats) error {
	text, err := st.NarInfo(ctx, h)
	if errors.Is(err, narstore.ErrNotFound) {
		return nil // forgotten meanwhile
	}
	if err != nil {
		return err
	}
	key := narstore.NarInfoKey(h)
	ni, err := narinfo.ParseStoreDir(bytes.NewReader(text), st.Chunks().Config().StoreDir)
	if err != nil {
		return fmt.Errorf("gc: %s: %w (nothing was deleted; forget the path or repair it)", key, err)
	}
	nh, err := nixhash.Parse(ni.NarHash)
	if err != nil || nh.Algo != nixhash.SHA256 {
		return fmt.Errorf("gc: %s: NarHash %q is not SHA-256 (nothing was deleted)", key, ni.NarHash)
	}
	var narHash [32]byte
	copy(narHash[:], nh.Digest)
	mkey := narstore.ManifestKey(narHash)
	mu.Lock()
	ms.NarInfos++
	ms.NarBytes += int64(ni.NarSize)
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
	batch := make([]chunkstore.ID, 0, len(m.Recipe)+len(m.Positions)+1024)
	for _, r := range m.Recipe {
		batch = append(batch, r.ID)
	}
	for _, r := range m.Positions {
		batch = append(batch, r.ID)
	}
	err = st.ResidueChunks(ctx, m, func(r chunkstore.Ref) error {
		batch = append(batch, r.ID)
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
