package gc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/repo/layout"
)

// DamagedPack is a pack due for repacking some frames of which, holding
// live chunks, could not be read back. None of its chunks were copied and
// it was left in place: deleting it would lose the live chunks of its
// intact frames. Forgetting the store paths that reach its damaged frames
// lets the next collection repack it.
type DamagedPack struct {
	Pack chunkstore.ID
	Err  error // the first damaged frame's (wraps chunkstore.ErrCorrupt)
	// StorePaths are the store paths whose NARs reach a live chunk of
	// its damaged frames, sorted: those that cannot be served, unless
	// the chunk is stored elsewhere too.
	StorePaths []string
}

func (d DamagedPack) String() string {
	return fmt.Sprintf("pack %s: %v; store paths reaching its damaged frames: %s",
		d.Pack, d.Err, strings.Join(d.StorePaths, " "))
}

// skipDamaged takes note of a pack to repack that the copier skipped, and
// takes it out of what the report says is condemned.
func (g *collector) skipDamaged(p repackCand, de *chunkstore.DamagedPackError) {
	g.opts.Logf("pack %s is damaged, leaving it in place: %v", p.id, de)
	if g.damagedChunks == nil {
		g.damagedChunks = make(map[chunkstore.ID]int)
	}
	for _, id := range de.Chunks {
		g.damagedChunks[id] = len(g.rep.Damaged)
	}
	g.rep.Damaged = append(g.rep.Damaged, DamagedPack{Pack: p.id, Err: de.Err})
	g.rep.RepackedPacks--
	g.rep.CondemnedPacks--
	g.rep.CondemnedPackBytes -= p.size
	g.rep.FreedBytes -= p.freed
}

// reportDamage finds the store paths that reach the damaged packs'
// damaged frames and returns an error naming the packs, if there are any.
// It reads every narinfo and manifest again, holding only the damaged
// chunks in memory, not which narinfo reaches which chunk.
func (g *collector) reportDamage(ctx context.Context) error {
	if len(g.rep.Damaged) == 0 {
		return nil
	}
	g.opts.Logf("finding the store paths that reach %d damaged packs", len(g.rep.Damaged))
	err := pathsReaching(ctx, g, func(storePath string, pack int) {
		d := &g.rep.Damaged[pack]
		if !slices.Contains(d.StorePaths, storePath) {
			d.StorePaths = append(d.StorePaths, storePath)
		}
	})
	ids := make([]string, len(g.rep.Damaged))
	for i := range g.rep.Damaged {
		slices.Sort(g.rep.Damaged[i].StorePaths)
		ids[i] = g.rep.Damaged[i].Pack.String()
	}
	derr := fmt.Errorf("gc: %d damaged packs left in place (%s), everything else done: %w; forget the store paths that reach them, then run gc again",
		len(ids), strings.Join(ids, ", "), g.rep.Damaged[0].Err)
	if err != nil {
		return errors.Join(derr, fmt.Errorf("gc: finding the store paths that reach them: %w", err))
	}
	return derr
}

// pathsReaching calls found, one at a time, with each store path whose
// NAR reaches a chunk of g.damagedChunks and that chunk's pack (its index
// in the report), once for each such chunk.
func pathsReaching(ctx context.Context, g *collector, found func(storePath string, pack int)) error {
	var mu sync.Mutex // serializes found
	return forNarInfos(ctx, g.be, g.opts.Workers, nil, func(ctx context.Context, h string) error {
		return narInfoReaches(ctx, g, h, &mu, found)
	})
}

func narInfoReaches(ctx context.Context, g *collector, h string, mu *sync.Mutex, found func(string, int)) error {
	ni, narHash, err := loadNarInfo(ctx, g.st, h)
	if err != nil || ni == nil {
		return err
	}
	m, err := g.st.Manifest(ctx, narHash)
	if err != nil {
		return fmt.Errorf("gc: %s: %w", layout.NarInfoOf(h).Key(), err)
	}
	err = manifestChunks(ctx, g.st, m, func(id chunkstore.ID) error {
		if pack, ok := g.damagedChunks[id]; ok {
			mu.Lock()
			found(ni.StorePath, pack)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gc: %s: chunks of %s: %w", layout.NarInfoOf(h).Key(), layout.ManifestOf(narHash).Key(), err)
	}
	return nil
}
