package gc

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/forward"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
)

// sweepRecords deletes, once the manifests and packs are swept, what only
// served them (see "Forward records, names objects and upload records" in
// the package documentation): the forward records no kept manifest needs,
// the names objects of NARs no longer stored and the upload records older
// than the grace period. It never deletes the records of the packs cond
// lists, which this sweep (or an interrupted one) wrote.
func (g *collector) sweepRecords(ctx context.Context, cond *lease.Condemned, live *liveSet) error {
	now, err := g.lc.Now(ctx)
	if err != nil {
		return err
	}
	cutoff := now.Add(-g.opts.Grace)
	complete, err := g.keepStored(ctx, live)
	if err != nil {
		return err
	}
	if err := g.sweepNames(ctx, live, cutoff); err != nil {
		return err
	}
	if complete {
		if err := g.sweepForward(ctx, cond, live, cutoff); err != nil {
			return err
		}
	}
	return g.sweepUploads(ctx, cutoff)
}

// recordsDue reports whether, with nothing else to condemn, a sweep would
// find something to delete: an upload record, or a forward record of a
// gone pack that the live manifests do not need, stored before cutoff.
// Manifests no narinfo reaches are not read here: the sweep may keep a
// record this counts.
func (g *collector) recordsDue(ctx context.Context, live *liveSet, cutoff time.Time) (bool, error) {
	due := errors.New("due")
	err := layout.List(ctx, g.be, layout.Upload, func(_ string, fi backend.Info) error {
		if fi.ModTime.Before(cutoff) {
			return due
		}
		return nil
	})
	if err != nil {
		return errors.Is(err, due), ignore(err, due, "list uploads")
	}
	packs, err := g.listPacks(ctx)
	if err != nil {
		return false, err
	}
	needed, err := g.neededRecords(ctx, live, packs)
	if err != nil || needed == nil {
		return false, err
	}
	err = layout.List(ctx, g.be, layout.Forward, func(name string, fi backend.Info) error {
		p, perr := chunkstore.ParseID(name)
		if _, exists := packs[p]; perr == nil && fi.ModTime.Before(cutoff) && !exists && !needed[p] {
			return due
		}
		return nil
	})
	return errors.Is(err, due), ignore(err, due, "list forward records")
}

// ignore returns err but for want, prefixed with what.
func ignore(err, want error, what string) error {
	if err == nil || errors.Is(err, want) {
		return nil
	}
	return fmt.Errorf("gc: %s: %w", what, err)
}

// keepStored adds to live every manifest still stored that the mark did
// not reach (younger than the grace period, or stored meanwhile: a
// narinfo may yet name it), with the packs its locations name. It reports
// false if one could not be read: then which forward records it needs is
// unknown, and none is deleted.
func (g *collector) keepStored(ctx context.Context, live *liveSet) (complete bool, err error) {
	var unmarked []narfmt.Hash
	err = layout.List(ctx, g.be, layout.Manifest, func(name string, fi backend.Info) error {
		ok, err := live.hasManifest(fi.Key)
		if err != nil || ok {
			return err
		}
		h, err := narfmt.ParseHash(name)
		if err != nil {
			return nil // not a manifest
		}
		unmarked = append(unmarked, h)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("gc: list manifests: %w", err)
	}
	complete = true
	for _, h := range unmarked {
		key := layout.ManifestOf(h).Key()
		if _, err := live.markManifest(key); err != nil {
			return false, err
		}
		m, err := g.st.Manifest(ctx, h)
		if errors.Is(err, narstore.ErrNotFound) {
			continue
		}
		if errors.Is(err, narstore.ErrCorrupt) || errors.Is(err, chunkstore.ErrCorrupt) {
			g.opts.Logf("keeping every forward record: %s: %v", key, err)
			complete = false
			continue
		}
		if err != nil {
			return false, fmt.Errorf("gc: %s: %w", key, err)
		}
		if err := live.addNamed(namedPacks(m)); err != nil {
			return false, err
		}
	}
	return complete, nil
}

// sweepForward deletes the forward records of deleted packs that no kept
// manifest needs, directly or through a chain of records, stored before
// cutoff and not of a pack cond lists.
func (g *collector) sweepForward(ctx context.Context, cond *lease.Condemned, live *liveSet, cutoff time.Time) error {
	packs, err := g.listPacks(ctx)
	if err != nil {
		return err
	}
	needed, err := g.neededRecords(ctx, live, packs)
	if err != nil || needed == nil {
		return err
	}
	g.rep.KeptForwardRecords = len(needed)
	for _, p := range cond.Packs {
		needed[p] = true
	}
	return g.deleteListed(ctx, layout.Forward, cutoff, func(name string) (bool, error) {
		p, err := chunkstore.ParseID(name)
		if err != nil {
			return false, nil // not a record
		}
		_, exists := packs[p]
		return !exists && !needed[p], nil
	}, &g.rep.DeletedForwardRecords, &g.rep.DeletedForwardBytes)
}

// neededRecords returns the deleted packs whose forward records are
// needed: those the kept manifests name, and those a needed record
// forwards to, given the packs that exist. It returns nil if a record
// cannot be decoded: then what it forwards to is unknown.
func (g *collector) neededRecords(ctx context.Context, live *liveSet, packs map[chunkstore.ID]backend.Info) (map[chunkstore.ID]bool, error) {
	var queue []chunkstore.ID
	err := live.forNamed(func(p chunkstore.ID) error {
		if _, ok := packs[p]; !ok {
			queue = append(queue, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gc: live set: %w", err)
	}
	needed := make(map[chunkstore.ID]bool)
	for len(queue) > 0 {
		p := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if needed[p] {
			continue
		}
		rec, err := forward.Get(ctx, g.be, p)
		if errors.Is(err, backend.ErrNotExist) {
			continue
		}
		if errors.Is(err, forward.ErrCorrupt) {
			g.opts.Logf("keeping every forward record: %v", err)
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
		needed[p] = true
		for _, e := range rec.Entries {
			if _, ok := packs[e.Loc.Pack]; !ok && !needed[e.Loc.Pack] {
				queue = append(queue, e.Loc.Pack)
			}
		}
	}
	return needed, nil
}

// sweepNames deletes the names objects stored before cutoff whose NAR has
// no manifest among those kept.
func (g *collector) sweepNames(ctx context.Context, live *liveSet, cutoff time.Time) error {
	return g.deleteListed(ctx, layout.Names, cutoff, func(name string) (bool, error) {
		h, err := narfmt.ParseHash(path.Base(name))
		if err != nil {
			return false, nil // not a names object
		}
		kept, err := live.hasManifest(layout.ManifestOf(h).Key())
		return !kept, err
	}, &g.rep.DeletedNames, nil)
}

// sweepUploads deletes the upload records stored before cutoff. Either a
// narinfo names the record's NAR already (it did its job), or none does,
// and the NAR's manifest is collected after the same grace period: a
// narinfo pushed later would be refused for want of it all the same.
func (g *collector) sweepUploads(ctx context.Context, cutoff time.Time) error {
	return g.deleteListed(ctx, layout.Upload, cutoff, func(string) (bool, error) { return true, nil },
		&g.rep.DeletedUploads, &g.rep.DeletedUploadBytes)
}

// deleteListed lists the objects of kind t and deletes those stored
// before cutoff that doomed reports true for (by name), counting them
// into n and their bytes into bytes (if not nil).
func (g *collector) deleteListed(ctx context.Context, t layout.Type, cutoff time.Time, doomed func(name string) (bool, error), n *int, bytes *int64) error {
	var del []backend.Info
	err := layout.List(ctx, g.be, t, func(name string, fi backend.Info) error {
		if !fi.ModTime.Before(cutoff) {
			return nil
		}
		ok, err := doomed(name)
		if ok {
			del = append(del, fi)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("gc: list %s: %w", t, err)
	}
	for _, fi := range del {
		if err := g.be.Delete(ctx, fi.Key); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return fmt.Errorf("gc: delete %s: %w", fi.Key, err)
		}
		*n++
		if bytes != nil {
			*bytes += fi.Size
		}
	}
	return nil
}
