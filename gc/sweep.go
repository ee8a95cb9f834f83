package gc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/forward"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

// sweep waits until every writer honours cond, marks what changed since
// (everything, without live) and deletes what is still dead. It reports
// false if it left the list for a later run.
func (g *collector) sweep(ctx context.Context, cond *lease.Condemned, live *liveSet, since time.Time) (bool, error) {
	g.opts.Phase("wait")
	ok, err := g.lc.Wait(ctx, cond, g.opts.Wait, g.opts.Poll, g.opts.Logf)
	g.rep.Pending, g.rep.StaleSessions = g.lc.Pending, g.lc.StaleSessions
	if err != nil || !ok {
		return false, err
	}
	if live == nil {
		if live, err = newLiveSet(g.opts.TempDir); err != nil {
			return false, err
		}
		defer live.close()
		since = time.Time{}
	}
	if err := g.markAgain(ctx, live, since); err != nil {
		return false, err
	}
	g.opts.Phase("delete")
	if err := g.sweepManifests(ctx, cond, live); err != nil {
		return false, err
	}
	if err := g.sweepPacks(ctx, cond, live); err != nil {
		return false, err
	}
	if err := g.sweepRecords(ctx, cond, live); err != nil {
		return false, err
	}
	if err := g.lc.Finish(ctx); err != nil {
		return false, err
	}
	return true, g.ss.Beat(ctx)
}

// markAgain marks what the narinfos stored at or after since reach, and
// reloads the index: a live chunk copied meanwhile into a pack written
// meanwhile lets its condemned pack go.
func (g *collector) markAgain(ctx context.Context, live *liveSet, since time.Time) error {
	g.opts.Phase("remark")
	g.opts.Logf("marking again what changed while waiting")
	if _, err := mark(ctx, g.be, g.st, live, markOptions{since: since, workers: g.opts.Workers}); err != nil {
		return err
	}
	return g.ss.Beat(ctx)
}

// sweepManifests deletes the condemned manifests that are still dead.
func (g *collector) sweepManifests(ctx context.Context, cond *lease.Condemned, live *liveSet) error {
	for _, key := range cond.Objects {
		ok, err := live.hasManifest(key)
		if err != nil {
			return err
		}
		if ok {
			g.rep.RevivedManifests++
			continue
		}
		if err := g.be.Delete(ctx, key); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return fmt.Errorf("gc: delete %s: %w", key, err)
		}
		g.rep.DeletedManifests++
	}
	return nil
}

// sweepPacks deletes the condemned packs that hold no live chunk found
// only in condemned packs. It decides first which go, then, for each, writes
// its forward record (where its chunks that a surviving pack holds live),
// deletes its index object and deletes it.
func (g *collector) sweepPacks(ctx context.Context, cond *lease.Condemned, live *liveSet) error {
	has, done, err := live.reader()
	if err != nil {
		return err
	}
	defer done()
	condemned := make(map[chunkstore.ID]bool, len(cond.Packs))
	for _, p := range cond.Packs {
		condemned[p] = true
	}
	doomed := make(map[chunkstore.ID]bool, len(cond.Packs))
	for _, p := range cond.Packs {
		ok, err := g.dooms(ctx, p, has, condemned)
		if err != nil {
			return err
		}
		doomed[p] = ok
	}
	for _, p := range cond.Packs {
		if doomed[p] {
			if err := g.sweepPack(ctx, p, doomed); err != nil {
				return err
			}
		}
	}
	return nil
}

// dooms reports whether condemned pack p goes: unless it holds a live
// chunk that no pack outside the list holds. A pack that stays is
// revived: its index object is restored if it was deleted.
func (g *collector) dooms(ctx context.Context, p chunkstore.ID, has func(chunkstore.ID) bool, condemned map[chunkstore.ID]bool) (bool, error) {
	chunks, toc, gone, err := g.packContents(ctx, p)
	if err != nil || gone {
		return gone, err
	}
	for _, id := range chunks {
		if !has(id) {
			continue
		}
		elsewhere, err := g.heldElsewhere(id, condemned)
		if err != nil {
			return false, err
		}
		if !elsewhere {
			g.rep.RevivedPacks++
			if toc != nil { // not indexed: its table was read
				if err := backend.PutBytes(ctx, g.be, chunkstore.IndexKey(p), toc.Encode()); err != nil {
					return false, fmt.Errorf("gc: restore index of pack %s: %w", p, err)
				}
			}
			return false, nil
		}
	}
	return true, nil
}

// sweepPack deletes pack p, which goes with the others doomed: its
// forward record first, then its index object, then the pack.
func (g *collector) sweepPack(ctx context.Context, p chunkstore.ID, doomed map[chunkstore.ID]bool) error {
	chunks, _, gone, err := g.packContents(ctx, p)
	if err != nil {
		return err
	}
	if gone {
		return g.deletePack(ctx, p, 0)
	}
	if err := g.writeForward(ctx, p, chunks, doomed); err != nil {
		return err
	}
	fi, err := g.be.Stat(ctx, chunkstore.PackKey(p))
	size := fi.Size
	if err != nil {
		size = 0
	}
	return g.deletePack(ctx, p, size)
}

// writeForward stores the forward record of pack p: for each of its
// chunks, whether live or not, that a surviving pack holds (one not
// doomed), the first such location by pack id. A manifest written while
// the collection waited may name any chunk of p. Without such a chunk,
// there is no record. A record stored by an earlier, interrupted sweep
// is kept.
func (g *collector) writeForward(ctx context.Context, p chunkstore.ID, chunks []chunkstore.ID, doomed map[chunkstore.ID]bool) error {
	rec := &forward.Record{Pack: p}
	for _, id := range chunks {
		var to chunkstore.Location
		found := false
		err := g.cs.Locations(id, func(loc chunkstore.Location) error {
			if !found && !doomed[loc.Pack] && loc.Pack != p {
				to, found = loc, true
			}
			return nil
		})
		if err != nil {
			return err
		}
		if found {
			rec.Entries = append(rec.Entries, forward.Entry{ID: id, Loc: to})
		}
	}
	if len(rec.Entries) == 0 {
		return nil
	}
	if err := forward.Put(ctx, g.be, rec); err != nil {
		return fmt.Errorf("gc: forward record of pack %s: %w", p, err)
	}
	g.rep.ForwardRecords++
	return nil
}

// packContents returns the chunks of condemned pack p from the index or,
// when it is not indexed here (an earlier sweep deleted its index object,
// or it never had one), from its own table, returned too. It reports gone
// if the pack no longer exists.
func (g *collector) packContents(ctx context.Context, p chunkstore.ID) (chunks []chunkstore.ID, toc *pack.TOC, gone bool, err error) {
	err = g.cs.PackChunks(p, func(id chunkstore.ID, _ chunkstore.Location) error {
		chunks = append(chunks, id)
		return nil
	})
	if err != nil || len(chunks) > 0 {
		return chunks, nil, false, err
	}
	toc, err = g.cs.ReadTOC(ctx, p)
	if errors.Is(err, backend.ErrNotExist) {
		return nil, nil, true, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("gc: pack %s: %w", p, err)
	}
	for _, c := range toc.Chunks {
		chunks = append(chunks, c.ID)
	}
	return chunks, toc, false, nil
}

// heldElsewhere reports whether a pack outside the condemned ones holds
// chunk id.
func (g *collector) heldElsewhere(id chunkstore.ID, condemned map[chunkstore.ID]bool) (bool, error) {
	elsewhere := false
	err := g.cs.Locations(id, func(loc chunkstore.Location) error {
		if !condemned[loc.Pack] {
			elsewhere = true
		}
		return nil
	})
	return elsewhere, err
}

func (g *collector) deletePack(ctx context.Context, p chunkstore.ID, size int64) error {
	for _, key := range []string{chunkstore.IndexKey(p), chunkstore.PackKey(p)} {
		if err := g.be.Delete(ctx, key); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return fmt.Errorf("gc: delete %s: %w", key, err)
		}
	}
	g.rep.DeletedPacks++
	g.rep.DeletedPackBytes += size
	return nil
}
