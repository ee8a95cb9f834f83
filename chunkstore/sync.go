package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/repo/layout"
)

// Sync brings the local index up to date with the repository. It loads
// every index object it does not have yet (written by another process, or
// before the index was deleted), and forgets the packs whose index objects
// are gone (deleted by garbage collection). It also loads the condemned
// list, if any (see Condemned).
//
// Each new index object is checked against its pack's trailer; one that is
// damaged or disagrees with its pack is replaced by the pack's own table
// of contents. A pack whose table cannot be read either way is left out of
// the index (its chunks read as missing), and so is a pack without an index
// object: Sync lists index objects, not packs (Rebuild from the packs finds
// it).
//
// Sync keeps the ids of the indexed packs in a map while it runs: about 84
// bytes a pack (a million random ids measured), so 10 million packs, 320
// TiB of 32 MiB packs, take about 0.8 GiB.
func (s *Store) Sync(ctx context.Context) error {
	if s.idx == nil && s.cands == nil {
		return nil // nothing to bring up to date
	}
	cond, err := lease.LoadCondemned(ctx, s.be)
	if err != nil {
		return err
	}
	if s.cands != nil {
		s.loadCondemned(cond)
		return nil
	}
	// Only packs indexed before the listing starts may be forgotten: one
	// this process stores meanwhile may be missing from the listing.
	known := make(map[ID]bool)
	if err := s.idx.Packs(func(id ID) error { known[id] = false; return nil }); err != nil {
		return s.wrap("read local index", err)
	}
	var todo []ID
	err = layout.List(ctx, s.be, layout.Index, func(name string, _ backend.Info) error {
		id, err := ParseID(name)
		if err != nil {
			return nil // not ours
		}
		if _, ok := known[id]; ok {
			known[id] = true
			return nil
		}
		ok, err := s.idx.HasPack(id)
		if err == nil && !ok {
			todo = append(todo, id)
		}
		return err
	})
	if err != nil {
		return s.wrap("list index", err)
	}
	for _, id := range todo {
		toc, err := s.syncTOC(ctx, id)
		if err != nil {
			return err
		}
		if toc == nil {
			continue
		}
		if err := s.idx.AddPack(id, toc); err != nil {
			return s.wrap("update local index", err)
		}
	}
	for id, listed := range known {
		if listed {
			continue
		}
		if err := s.idx.RemovePack(id); err != nil {
			return s.wrap("update local index", err)
		}
	}
	s.lease.Load(cond)
	return nil
}

// loadCondemned makes cond the condemned list a store without an index
// honours, dropping the candidates in packs condemned before or now.
func (s *Store) loadCondemned(cond *lease.Condemned) {
	var id string
	if cond != nil {
		id = cond.ID
	}
	if id == s.lease.View() {
		return
	}
	s.cands.purge(s.lease.Avoid)
	s.lease.Load(cond)
	s.cands.purge(s.lease.Avoid)
}

// syncTOC returns the table of contents of pack id for Sync, or nil if
// neither the index object nor the pack yields one.
func (s *Store) syncTOC(ctx context.Context, id ID) (*pack.TOC, error) {
	data, err := s.rd.readObject(ctx, IndexKey(id), 0, -1, pack.MaxTOCSize)
	var toc *pack.TOC
	if err == nil {
		toc, err = pack.DecodeTOC(data)
	}
	if err == nil {
		ok, err := s.matchesTrailer(ctx, id, data, toc)
		if ok || err != nil {
			return toc, err
		}
	}
	ptoc, perr := s.ReadTOC(ctx, id)
	switch {
	case perr == nil:
		return ptoc, nil
	case !errors.Is(perr, ErrCorrupt) && !errors.Is(perr, backend.ErrNotExist):
		return nil, perr
	case toc != nil:
		// The pack is missing or its end is damaged: keep the index
		// object, whose chunks are checked against their ids when read.
		return toc, nil
	}
	return nil, nil
}

// matchesTrailer reports whether an index object agrees with the trailer
// of its pack (length and checksum of the table, size of the pack). It
// returns false, nil when the pack is missing or has no valid trailer.
func (s *Store) matchesTrailer(ctx context.Context, id ID, data []byte, toc *pack.TOC) (bool, error) {
	fi, err := s.be.Stat(ctx, PackKey(id))
	if errors.Is(err, backend.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap("stat pack "+id.String(), err)
	}
	if fi.Size < pack.TrailerSize {
		return false, nil
	}
	tr, err := s.rd.readObject(ctx, PackKey(id), fi.Size-pack.TrailerSize, pack.TrailerSize, pack.TrailerSize)
	if errors.Is(err, ErrCorrupt) || errors.Is(err, backend.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	n, sum, err := pack.ParseTrailer(tr)
	got := Sum(data)
	return err == nil && n == int64(len(data)) && bytes.Equal(got[:8], sum[:]) &&
		toc.DataSize()+n+pack.TrailerSize == fi.Size, nil
}

// syncState times the reloads of the index (Sync), so that lookups that
// miss share them.
type syncState struct {
	mu   sync.Mutex
	last time.Time // when the last Sync ended
	from time.Time // when the last successful Sync began
}

// syncLocked runs Sync; the caller holds syncs.mu.
func (s *Store) syncLocked(ctx context.Context) error {
	start := time.Now()
	err := s.Sync(ctx)
	s.syncs.last = time.Now()
	if err == nil {
		s.syncs.from = start
	}
	return err
}

// resyncNow runs Sync now, unless one started since the caller failed.
func (s *Store) resyncNow(ctx context.Context) error {
	failedAt := time.Now()
	s.syncs.mu.Lock()
	defer s.syncs.mu.Unlock()
	if s.syncs.from.After(failedAt) {
		return nil
	}
	return s.syncLocked(ctx)
}

// resync makes sure a Sync started after missAt, waiting for the resync
// interval to pass since the last one, and reports whether the index may
// have changed.
func (s *Store) resync(ctx context.Context, missAt time.Time) bool {
	s.syncs.mu.Lock()
	defer s.syncs.mu.Unlock()
	if s.syncs.from.After(missAt) {
		return true // another lookup's sync began after this miss
	}
	if s.opts.ResyncInterval < 0 {
		return false
	}
	if wait := s.opts.ResyncInterval - time.Since(s.syncs.last); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return false
		}
	}
	return s.syncLocked(ctx) == nil
}
