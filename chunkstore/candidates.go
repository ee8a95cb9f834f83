package chunkstore

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/forward"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

// candidates is the dedup set of a store opened with Options.Candidates:
// chunk ids and where they lie, most recently used first, at most max of
// them. It holds the chunks the caller offers (AddCandidates: those of the
// earlier NARs of the same package) and those this process stored.
//
// An entry never outlives its pack: entries whose pack a condemned list
// names are dropped when the list is loaded and again when it goes (a
// collection deletes a pack only after every writer loaded the list that
// condemns it), and while the list stands claim passes them over
// (lease.Writer.Avoid). Offered locations are checked against the
// repository (the pack exists) within one view of the condemned list
// (epoch): an offer whose view changed meanwhile is dropped.
type candidates struct {
	mu    sync.Mutex
	max   int
	lru   *list.List // of *candidate, most recently used first
	byID  map[ID]*list.Element
	epoch uint64             // bumped each time the condemned view changes
	live  map[pack.ID]uint64 // packs seen to exist, and in which epoch
}

type candidate struct {
	id  ID
	loc Location
}

// maxLivePacks bounds the packs remembered to exist.
const maxLivePacks = 4096

func newCandidates(max int) *candidates {
	return &candidates{max: max, lru: list.New(), byID: make(map[ID]*list.Element),
		live: make(map[pack.ID]uint64)}
}

// get returns where chunk id lies, unless its pack is to be avoided.
func (c *candidates) get(id ID, avoid func(pack.ID) bool) (Location, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		return Location{}, false
	}
	cd := e.Value.(*candidate)
	if avoid(cd.loc.Pack) {
		return Location{}, false
	}
	c.lru.MoveToFront(e)
	return cd.loc, true
}

// put adds or refreshes a chunk's location; the caller holds c.mu.
func (c *candidates) put(id ID, loc Location) {
	if e, ok := c.byID[id]; ok {
		e.Value.(*candidate).loc = loc
		c.lru.MoveToFront(e)
		return
	}
	c.byID[id] = c.lru.PushFront(&candidate{id: id, loc: loc})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.byID, old.Value.(*candidate).id)
	}
}

// addPack adds every chunk of a pack this process stored.
func (c *candidates) addPack(id pack.ID, locs map[ID]Location) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for cid, loc := range locs {
		c.put(cid, loc)
	}
}

// purge drops every entry whose pack avoid names, and forgets which packs
// exist: called before and after the condemned view changes.
func (c *candidates) purge(avoid func(pack.ID) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.live)
	for e := c.lru.Front(); e != nil; {
		next := e.Next()
		if cd := e.Value.(*candidate); avoid(cd.loc.Pack) {
			c.lru.Remove(e)
			delete(c.byID, cd.id)
		}
		e = next
	}
}

// AddCandidates offers chunks that a NAR about to be written may repeat,
// with their locations, to a store opened with Options.Candidates: next
// yields them until io.EOF. A chunk whose pack garbage collection deleted
// since its location was written is offered where the pack's forward
// record says it lives now, or passed over without one; chunks in
// condemned packs are passed over. The others are deduplicated against
// until newer ones push them out. It costs one STAT per pack not seen in
// the current view of the condemned list.
func (s *Store) AddCandidates(ctx context.Context, next func() (ID, Location, error)) error {
	c := s.cands
	if c == nil {
		return errors.New("chunkstore: AddCandidates on a store not opened with Options.Candidates")
	}
	c.mu.Lock()
	epoch := c.epoch
	c.mu.Unlock()
	type offer struct {
		id  ID
		loc Location
	}
	var batch []offer
	flush := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.epoch == epoch {
			for _, o := range batch {
				if !s.lease.Avoid(o.loc.Pack) {
					c.put(o.id, o.loc)
				}
			}
		}
		batch = batch[:0]
	}
	gone := make(map[pack.ID]bool)
	for {
		id, loc, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		g, known := gone[loc.Pack]
		ok := !g
		if !known {
			if ok, err = s.packExists(ctx, loc.Pack, epoch); err != nil {
				return err
			}
			gone[loc.Pack] = !ok
		}
		if !ok {
			// Garbage collection moved the chunk: follow the pack's
			// forward record, then check where it leads as any offer.
			if loc, err = s.fwd.Resolve(ctx, loc.Pack, id); errors.Is(err, forward.ErrNotForwarded) {
				continue
			} else if err != nil {
				return s.wrap("forward", err)
			}
			if ok, err = s.packExists(ctx, loc.Pack, epoch); err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
		}
		if batch = append(batch, offer{id, loc}); len(batch) == 1024 {
			flush()
		}
	}
	flush()
	return nil
}

// packExists reports whether pack p exists, as seen in epoch.
func (s *Store) packExists(ctx context.Context, p pack.ID, epoch uint64) (bool, error) {
	c := s.cands
	c.mu.Lock()
	e, ok := c.live[p]
	c.mu.Unlock()
	if ok && e == epoch {
		return true, nil
	}
	_, err := s.be.Stat(ctx, PackKey(p))
	if errors.Is(err, backend.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap("stat pack "+p.String(), err)
	}
	c.mu.Lock()
	if len(c.live) >= maxLivePacks {
		clear(c.live)
	}
	c.live[p] = epoch
	c.mu.Unlock()
	return true, nil
}

// packLocations returns where each chunk of a stored pack lies.
func packLocations(id pack.ID, toc *pack.TOC) map[ID]Location {
	locs := make(map[ID]Location, len(toc.Chunks))
	for _, ch := range toc.Chunks {
		f := toc.Frames[ch.Frame]
		locs[ch.ID] = Location{Pack: id, FrameOffset: f.Offset, FrameCLen: f.CLen,
			FrameULen: f.ULen, Offset: ch.Offset, Length: ch.Length}
	}
	return locs
}

// LocateAll calls fn with each ref that next yields (until io.EOF) and
// where the chunk lies, as the writer of r found or stored it: for a store
// opened with Options.Candidates, once r's chunks are durable (in the
// callback of Store.Commit).
func (r WriteResult) LocateAll(next func() (Ref, error), fn func(Ref, Location) error) error {
	for {
		ref, err := next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		loc, ok := r.locs[ref.ID]
		if !ok {
			if t := r.tickets[ref.ID]; t != nil && t.b != nil && t.b.locs != nil {
				loc, ok = t.b.locs[ref.ID]
			}
		}
		if !ok {
			return fmt.Errorf("chunkstore: chunk %s was not written by this stream", ref.ID)
		}
		if err := fn(ref, loc); err != nil {
			return err
		}
	}
}
