package gc_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/forward"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
)

// locSnapshot is every location an index held of every chunk of some
// NARs, as a manifest carrying locations could name them.
type locSnapshot map[chunkstore.Ref][]chunkstore.Location

// refsOf returns the chunks of the NAR nh, which st holds.
func refsOf(t testing.TB, st *narstore.Store, nh [32]byte) []chunkstore.Ref {
	t.Helper()
	ctx := context.Background()
	m, err := st.Manifest(ctx, narfmt.Hash(nh))
	must(t, err)
	refs := slices.Concat(m.Recipe, m.Positions)
	must(t, st.ResidueChunks(ctx, m, func(r chunkstore.Ref) error {
		refs = append(refs, r)
		return nil
	}))
	return refs
}

// snapshotLocations takes the locations that cs's index holds of every
// chunk of the NARs nars, which st holds.
func snapshotLocations(t testing.TB, st *narstore.Store, cs *chunkstore.Store, nars map[[32]byte]bool) locSnapshot {
	t.Helper()
	snap := make(locSnapshot)
	for nh := range nars {
		for _, r := range refsOf(t, st, nh) {
			if _, ok := snap[r]; ok {
				continue
			}
			must(t, cs.Locations(r.ID, func(l chunkstore.Location) error {
				snap[r] = append(snap[r], l)
				return nil
			}))
			if len(snap[r]) == 0 {
				t.Fatalf("chunk %s is not indexed", r.ID)
			}
		}
	}
	return snap
}

// check reads every location of the snapshot through cs.ReadChunkAt and
// reports how many name a pack that is gone (read through forward
// records).
func (snap locSnapshot) check(t testing.TB, tag string, cs *chunkstore.Store) (forwarded int) {
	t.Helper()
	ctx := context.Background()
	gone := make(map[chunkstore.ID]bool)
	for ref, locs := range snap {
		for _, l := range locs {
			if _, ok := gone[l.Pack]; !ok {
				_, err := cs.Backend().Stat(ctx, chunkstore.PackKey(l.Pack))
				gone[l.Pack] = errors.Is(err, backend.ErrNotExist)
			}
			if gone[l.Pack] {
				forwarded++
			}
			data, err := cs.ReadChunkAt(ctx, ref, l)
			if err != nil {
				t.Errorf("%s: chunk %s at %+v: %v", tag, ref.ID, l, err)
				continue
			}
			if len(data) != int(ref.Size) || chunkstore.Sum(data) != ref.ID {
				t.Errorf("%s: chunk %s at %+v: wrong bytes", tag, ref.ID, l)
			}
		}
	}
	return forwarded
}

// hops returns how many forward records lead from loc to a pack that
// exists (0 if loc's pack exists), or -1 if they do not.
func hops(t testing.TB, be backend.Backend, id chunkstore.ID, loc chunkstore.Location) int {
	t.Helper()
	ctx := context.Background()
	for n := 0; n <= forward.MaxHops; n++ {
		_, err := be.Stat(ctx, chunkstore.PackKey(loc.Pack))
		if err == nil {
			return n
		}
		rec, err := forward.Get(ctx, be, loc.Pack)
		if err != nil {
			return -1
		}
		var ok bool
		if loc, ok = rec.Find(id); !ok {
			return -1
		}
	}
	return -1
}

// failPackDelete fails the deletion of every pack after the first n, as if
// the collection died there: after it wrote that pack's forward record and
// deleted its index object.
type failPackDelete struct {
	backend.Backend
	n atomic.Int64
}

var errKilled = errors.New("killed")

func (b *failPackDelete) Delete(ctx context.Context, key string) error {
	if h, err := layout.Parse(key); err == nil && h.Type == layout.Pack && b.n.Add(-1) < 0 {
		return errKilled
	}
	return b.Backend.Delete(ctx, key)
}

// forgetOld forgets the paths of generations 1 and 2 that generation 3
// does not have, and returns generation 3's NARs.
func forgetOld(t *testing.T, r *repo, s *sampleNARs) map[[32]byte]bool {
	t.Helper()
	g3 := sample.Paths(3)
	var old []string
	for _, gen := range []int{1, 2} {
		for _, p := range sample.Paths(gen) {
			if !slices.Contains(g3, p) {
				old = append(old, p)
			}
		}
	}
	r.forget(t, old)
	return s.nars(g3)
}

// A collection killed in its sweep, after it deleted some packs and the
// index object of the next, and the run that finishes its list: every
// location the index held of a live chunk before still reads it, through
// forward records where the pack is gone.
func TestCollectKilledInSweepKeepsLocations(t *testing.T) {
	ctx := context.Background()
	s := loadSampleNARs(t)
	r := newRepo(t, walkConfig())
	for gen := 1; gen <= 3; gen++ {
		ingestInto(t, r.rp, bucket(t, sample.Paths(gen)))
	}
	live := forgetOld(t, r, s)
	snap := snapshotLocations(t, r.st, r.rp.Chunks(), live)

	fb := &failPackDelete{Backend: r.be}
	fb.n.Store(1)
	col := newProcess(t, fb, "gc")
	o := opts(t)
	o.RepackBelow = 0.99
	if _, err := gc.Collect(ctx, col.rp, o); !errors.Is(err, errKilled) {
		t.Fatalf("the killed collection: %v", err)
	}
	cond, err := lease.LoadCondemned(ctx, r.be)
	if err != nil || cond == nil {
		t.Fatalf("condemned list after the kill: %v, %v", cond, err)
	}
	// The order is record, index object, pack: a condemned pack whose
	// index object is gone has its record if it holds a live chunk.
	inSnap := make(map[chunkstore.ID]bool)
	for _, locs := range snap {
		for _, l := range locs {
			inSnap[l.Pack] = true
		}
	}
	killed := 0
	for _, p := range cond.Packs {
		if _, err := r.be.Stat(ctx, chunkstore.IndexKey(p)); !errors.Is(err, backend.ErrNotExist) || !inSnap[p] {
			continue
		}
		killed++
		if _, err := forward.Get(ctx, r.be, p); err != nil {
			t.Errorf("pack %s without its index object: %v", p, err)
		}
	}
	if killed == 0 {
		t.Error("the kill left no pack without its index object: the test tests nothing")
	}
	rd := newProcess(t, r.be, "reader")
	n := snap.check(t, "after the kill", rd.cs)
	t.Logf("after the kill: %d of %d chunks' locations read through forward records", n, len(snap))

	rep, err := gc.Collect(ctx, r.rp, o)
	must(t, err)
	if !rep.FinishedEarlier || rep.Pending != "" || rep.DeletedPacks == 0 || rep.ForwardRecords == 0 {
		t.Fatalf("the run that finishes the list: %+v", rep)
	}
	n = snap.check(t, "after the resumed sweep", rd.cs)
	t.Logf("after the resumed sweep: %d locations read through forward records; %d records", n, rep.ForwardRecords)
	if n == 0 {
		t.Error("no location named a deleted pack: the test tests nothing")
	}
	r.check(t, r.rp)
}

// Two collections that repack the same chunks twice: a location from
// before the first resolves through two records.
func TestForwardChain(t *testing.T) {
	r, snap := forwardChain(t)
	two := 0
	for ref, locs := range snap {
		for _, l := range locs {
			switch hops(t, r.be, ref.ID, l) {
			case -1:
				t.Errorf("chunk %s at %+v: no forward record leads to a pack that exists", ref.ID, l)
			case 2:
				two++
			}
		}
	}
	if two == 0 {
		t.Fatal("no location needs two records: the test tests nothing")
	}
	rd := newProcess(t, r.be, "reader")
	n := snap.check(t, "after two collections", rd.cs)
	t.Logf("%d locations read through forward records, %d of them through two", n, two)
}

// forwardChain runs two collections that repack the same chunks twice
// over the sample's three generations, and returns the repository and
// every location the index held, before the first, of the chunks still
// live.
func forwardChain(t *testing.T) (*repo, locSnapshot) {
	ctx := context.Background()
	s := loadSampleNARs(t)
	r := newRepo(t, walkConfig())
	for gen := 1; gen <= 3; gen++ {
		ingestInto(t, r.rp, bucket(t, sample.Paths(gen)))
	}
	cs := r.rp.Chunks()
	var first []chunkstore.ID
	must(t, cs.Packs(func(id chunkstore.ID) error { first = append(first, id); return nil }))
	live := forgetOld(t, r, s)
	snap := snapshotLocations(t, r.st, cs, live)
	o := opts(t)
	o.RepackBelow = 1 // any dead byte
	rep, err := gc.Collect(ctx, r.rp, o)
	must(t, err)
	t.Logf("first collection: deleted %d packs (%d repacked), %d forward records", rep.DeletedPacks, rep.RepackedPacks, rep.ForwardRecords)

	// Forget the paths of one NAR that has a chunk of its own in a pack
	// a forward record of the first collection points to, for a chunk
	// that stays live: the second collection deletes that pack too.
	users := make(map[chunkstore.ID]map[[32]byte]bool) // live chunk -> NARs
	for nh := range live {
		for _, ref := range refsOf(t, r.st, nh) {
			if users[ref.ID] == nil {
				users[ref.ID] = make(map[[32]byte]bool)
			}
			users[ref.ID][nh] = true
		}
	}
	var drop [32]byte
	found := false
	must(t, layout.List(ctx, r.be, layout.Forward, func(name string, _ backend.Info) error {
		id, err := chunkstore.ParseID(name)
		if err != nil || found {
			return err
		}
		rec, err := forward.Get(ctx, r.be, id)
		if err != nil {
			return err
		}
		for _, e := range rec.Entries {
			p := e.Loc.Pack
			err := cs.PackChunks(p, func(own chunkstore.ID, _ chunkstore.Location) error {
				if found || len(users[own]) != 1 {
					return nil
				}
				for nh := range users[own] {
					if len(users[e.ID]) > 0 && !users[e.ID][nh] {
						drop, found = nh, true
						t.Logf("forget NAR %x: pack %s keeps chunk %s, loses %s", nh[:4], p, e.ID, own)
					}
				}
				return nil
			})
			if err != nil || found {
				return err
			}
		}
		return nil
	}))
	if !found {
		t.Fatal("no pack a forward record points to holds chunks of two NARs")
	}
	var paths []string
	for _, p := range sample.Paths(3) {
		if s.narHash[p] == drop {
			paths = append(paths, p)
		}
	}
	r.forget(t, paths)
	for ref := range snap {
		if len(users[ref.ID]) == 1 && users[ref.ID][drop] {
			delete(snap, ref) // dead now
		}
	}
	rep, err = gc.Collect(ctx, r.rp, o)
	must(t, err)
	t.Logf("second collection: deleted %d packs (%d repacked), %d forward records; deleted %d records, kept %d",
		rep.DeletedPacks, rep.RepackedPacks, rep.ForwardRecords, rep.DeletedForwardRecords, rep.KeptForwardRecords)
	return r, snap
}

// indexLists counts the listings of index objects: the reloads of a
// store's index.
type indexLists struct {
	backend.Backend
	n atomic.Int64
}

func (b *indexLists) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	if prefix == layout.Index.Prefix() {
		b.n.Add(1)
	}
	return b.Backend.List(ctx, prefix, fn)
}

// A server whose local index predates a collection streams NARs whose
// packs the collection deleted: it follows the forward records, without
// reloading its index.
func TestStaleReaderFollowsForwardRecords(t *testing.T) {
	ctx := context.Background()
	s := loadSampleNARs(t)
	r := newRepo(t, walkConfig())
	for gen := 1; gen <= 3; gen++ {
		ingestInto(t, r.rp, bucket(t, sample.Paths(gen)))
	}
	forgetOld(t, r, s)
	il := &indexLists{Backend: r.be}
	rd := newProcess(t, il, "reader") // its index holds every pack before the collection
	var before []chunkstore.ID
	must(t, rd.cs.Packs(func(id chunkstore.ID) error { before = append(before, id); return nil }))

	o := opts(t)
	o.RepackBelow = 0.99
	rep, err := gc.Collect(ctx, r.rp, o)
	must(t, err)
	if rep.DeletedPacks == 0 || rep.RepackedPacks == 0 {
		t.Fatalf("the collection deleted %d packs and repacked %d, want some of each", rep.DeletedPacks, rep.RepackedPacks)
	}
	gone := 0
	for _, id := range before {
		if _, err := r.be.Stat(ctx, chunkstore.PackKey(id)); errors.Is(err, backend.ErrNotExist) {
			gone++
		}
	}
	lists := il.n.Load()
	for _, p := range sample.Paths(3) {
		if err := readAndCheckNAR(ctx, rd.st, hashOf(p)); err != nil {
			t.Error(err)
		}
	}
	if n := il.n.Load() - lists; n != 0 {
		t.Errorf("the reader reloaded its index %d times; the forward records should have answered", n)
	}
	t.Logf("%d of the %d packs the reader indexes are gone", gone, len(before))
	if gone == 0 {
		t.Fatal("no pack the reader indexes is gone: the test tests nothing")
	}
}
