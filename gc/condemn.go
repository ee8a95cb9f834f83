package gc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/repo/layout"
)

// condemn finds the dead, repacks the mostly dead and writes the list. It
// returns nil if there is nothing to condemn.
func (g *collector) condemn(ctx context.Context, live *liveSet, now time.Time) (*lease.Condemned, error) {
	g.opts.Phase("condemn")
	cutoff := now.Add(-g.opts.Grace)
	cond := &lease.Condemned{ID: newID()}
	if err := g.condemnManifests(ctx, live, cutoff, cond); err != nil {
		return nil, err
	}
	packs, err := g.listPacks(ctx)
	if err != nil {
		return nil, err
	}
	has, done, err := live.reader()
	if err != nil {
		return nil, err
	}
	defer done()
	rc, err := g.newRecompressor(now)
	if err != nil {
		return nil, err
	}
	repack, err := g.sortPacks(packs, cutoff, has, rc, cond)
	if err != nil {
		return nil, err
	}
	g.condemnUnindexed(packs, cutoff, cond)
	recompress := rc.chosen()
	g.rep.RepackedPacks = len(repack)
	g.rep.CondemnedPacks = len(cond.Packs) + len(repack) + len(recompress)
	g.opts.Logf("condemned: %d dead packs, %d packs to repack, %d manifests", len(cond.Packs), len(repack), len(cond.Objects))
	if g.opts.DryRun {
		return nil, nil
	}
	if len(cond.Packs) == 0 && len(repack) == 0 && len(recompress) == 0 && len(cond.Objects) == 0 {
		// An empty list still makes the writers reload their index, so
		// that the sweep may delete records.
		if due, err := g.recordsDue(ctx, live, cutoff); err != nil || !due {
			return nil, err
		}
		return cond, g.lc.Condemn(ctx, cond)
	}
	if err := g.copyLive(ctx, repack, recompress, rc, has, cond); err != nil {
		return nil, err
	}
	if len(cond.Packs) == 0 && len(cond.Objects) == 0 {
		return nil, nil // only damaged packs were to repack
	}
	if err := g.lc.Condemn(ctx, cond); err != nil {
		return nil, err
	}
	return cond, nil
}

// condemnManifests condemns the manifests older than cutoff that the mark
// did not reach.
func (g *collector) condemnManifests(ctx context.Context, live *liveSet, cutoff time.Time, cond *lease.Condemned) error {
	err := layout.List(ctx, g.be, layout.Manifest, func(_ string, fi backend.Info) error {
		if !fi.ModTime.Before(cutoff) {
			return nil
		}
		ok, err := live.hasManifest(fi.Key)
		if err == nil && !ok {
			cond.Objects = append(cond.Objects, fi.Key)
			g.rep.FreedBytes += fi.Size
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("gc: list manifests: %w", err)
	}
	g.rep.CondemnedManifests = len(cond.Objects)
	return nil
}

// listPacks returns the stored packs and their ages, by listing them (one
// entry a pack in memory).
func (g *collector) listPacks(ctx context.Context) (map[chunkstore.ID]backend.Info, error) {
	packs := make(map[chunkstore.ID]backend.Info)
	err := layout.List(ctx, g.be, layout.Pack, func(name string, fi backend.Info) error {
		if id, err := chunkstore.ParseID(name); err == nil {
			packs[id] = fi
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gc: list packs: %w", err)
	}
	return packs, nil
}

// repackCand is a pack to repack, its size and the bytes repacking it
// frees (as counted in the report).
type repackCand struct {
	id          chunkstore.ID
	size, freed int64
}

// sortPacks sorts the indexed packs older than cutoff by their live
// bytes: dead ones are condemned, mostly dead ones returned for
// repacking, and the others offered to the recompressor. It removes every
// indexed pack from packs, leaving the unindexed ones.
func (g *collector) sortPacks(packs map[chunkstore.ID]backend.Info, cutoff time.Time, has func(chunkstore.ID) bool,
	rc *recompressor, cond *lease.Condemned) (repack []repackCand, err error) {
	err = g.cs.Packs(func(id chunkstore.ID) error {
		fi, ok := packs[id]
		if !ok {
			return nil // indexed but missing: verify reports it
		}
		delete(packs, id) // what is left is not indexed
		if !fi.ModTime.Before(cutoff) {
			g.rep.FreshPacksSkipped++
			return nil
		}
		total, liveBytes, err := g.liveBytes(id, has)
		if err != nil {
			return err
		}
		switch {
		case liveBytes == 0:
			cond.Packs = append(cond.Packs, id)
			g.rep.CondemnedPackBytes += fi.Size
			g.rep.FreedBytes += fi.Size
		case float64(liveBytes) < g.opts.RepackBelow*float64(total):
			c := repackCand{id: id, size: fi.Size, freed: int64(float64(fi.Size) * float64(total-liveBytes) / float64(total))}
			repack = append(repack, c)
			g.rep.CondemnedPackBytes += c.size
			g.rep.FreedBytes += c.freed
		default:
			return rc.consider(id, fi, total, liveBytes)
		}
		return nil
	})
	return repack, err
}

// condemnUnindexed condemns the packs older than cutoff that have no index
// object (their writer died between the two): they are invisible to every
// reader. The sweep reads their own tables and, should one hold a live
// chunk found nowhere else, writes its index object instead of deleting
// it.
func (g *collector) condemnUnindexed(unindexed map[chunkstore.ID]backend.Info, cutoff time.Time, cond *lease.Condemned) {
	for id, fi := range unindexed {
		if fi.ModTime.Before(cutoff) {
			cond.Packs = append(cond.Packs, id)
			g.rep.UnindexedPacks++
			g.rep.CondemnedPackBytes += fi.Size
			g.rep.FreedBytes += fi.Size
		}
	}
}

// copyLive copies the live chunks of the packs to repack and of those to
// recompress into new packs, and condemns the old packs, but for the
// damaged packs to repack, which stay.
func (g *collector) copyLive(ctx context.Context, repack []repackCand, recompress []chunkstore.ID, rc *recompressor,
	has func(chunkstore.ID) bool, cond *lease.Condemned) error {
	if len(repack) > 0 {
		g.opts.Phase("repack")
		copied, err := g.repack(ctx, repack, has)
		if err != nil {
			return err
		}
		cond.Packs = append(cond.Packs, copied...)
	}
	if len(recompress) > 0 {
		g.opts.Phase("recompress")
		if err := rc.copy(ctx, recompress, has); err != nil {
			return err
		}
		cond.Packs = append(cond.Packs, recompress...)
	}
	return nil
}

// owner returns the pack a chunk counts as live in: its first location.
func (g *collector) owner(id chunkstore.ID) (chunkstore.ID, error) {
	var first chunkstore.ID
	errFound := errors.New("found")
	err := g.cs.Locations(id, func(loc chunkstore.Location) error {
		first = loc.Pack
		return errFound
	})
	if errors.Is(err, errFound) {
		err = nil
	}
	return first, err
}

// liveBytes sums the chunk bytes of a pack and those of its chunks that
// are live and count as live in it.
func (g *collector) liveBytes(pack chunkstore.ID, has func(chunkstore.ID) bool) (total, live int64, err error) {
	err = g.cs.PackChunks(pack, func(id chunkstore.ID, loc chunkstore.Location) error {
		total += int64(loc.Length)
		if !has(id) {
			return nil
		}
		owner, err := g.owner(id)
		if err == nil && owner == pack {
			live += int64(loc.Length)
		}
		return err
	})
	return total, live, err
}

// liveIn returns a test of whether a chunk is live and counts as live in
// pack p (see owner): what copying p must keep. A lookup that fails keeps
// the chunk: a copy too many is harmless.
func (g *collector) liveIn(p chunkstore.ID, has func(chunkstore.ID) bool) func(chunkstore.ID) bool {
	return func(id chunkstore.ID) bool {
		if !has(id) {
			return false
		}
		owner, err := g.owner(id)
		return err != nil || owner == p
	}
}

// copyWith runs run with a new copier of opts and closes it, returning
// what it copied; what names the copy in errors.
func (g *collector) copyWith(ctx context.Context, opts chunkstore.CopyOptions, what string, run func(*chunkstore.Copier) error) (chunkstore.CopyResult, error) {
	c, err := g.cs.NewCopier(opts)
	if err != nil {
		return chunkstore.CopyResult{}, fmt.Errorf("gc: %s: %w", what, err)
	}
	if err := run(c); err != nil {
		c.Close(ctx)
		return chunkstore.CopyResult{}, err
	}
	res, err := c.Close(ctx)
	if err != nil {
		return res, fmt.Errorf("gc: %s: %w", what, err)
	}
	return res, nil
}

// repack copies the live chunks of packs into new packs and returns the
// packs it copied: all but the damaged ones (skipDamaged).
func (g *collector) repack(ctx context.Context, packs []repackCand, has func(chunkstore.ID) bool) (copied []chunkstore.ID, err error) {
	res, err := g.copyWith(ctx, g.opts.Copy, "repack", func(c *chunkstore.Copier) error {
		for _, p := range packs {
			err := c.CopyPack(ctx, p.id, g.liveIn(p.id, has))
			var de *chunkstore.DamagedPackError
			if errors.As(err, &de) {
				g.skipDamaged(p, de)
				continue
			}
			if err != nil {
				return fmt.Errorf("gc: repack %s: %w", p.id, err)
			}
			copied = append(copied, p.id)
		}
		return nil
	})
	g.rep.Copied = res
	if err != nil {
		return nil, err
	}
	g.opts.Logf("repacked %d packs: %d chunks, %d bytes into %d compressed", len(copied), res.Chunks, res.Bytes, res.StoredBytes)
	return copied, nil
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
