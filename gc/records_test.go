package gc_test

import (
	"context"
	"errors"
	"fmt"
	"path"
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

// newServerProcess is a reader without a local index, as serve runs: it
// finds every chunk by the location its manifest gives.
func newServerProcess(t testing.TB, be backend.Backend, name string) *process {
	t.Helper()
	return startProcess(t, &process{name: name, be: be, noIndex: true, frames: 1 << 20})
}

// liveHashes returns the store path hashes of the stored narinfos.
func liveHashes(t testing.TB, st *narstore.Store) []string {
	t.Helper()
	var hs []string
	must(t, st.ListNarInfos(context.Background(), func(h string) error { hs = append(hs, h); return nil }))
	slices.Sort(hs)
	return hs
}

// serveAll reads every live NAR through st and reports the failures.
func serveAll(t testing.TB, tag string, st *narstore.Store, hashes []string) {
	t.Helper()
	for _, h := range hashes {
		if err := readAndCheckNAR(context.Background(), st, h); err != nil {
			t.Errorf("%s: %v", tag, err)
		}
	}
}

// manifestHops counts, by the number of forward records that lead from
// it to a pack that exists (-1: none does), the locations that the
// manifests of the stored narinfos carry.
func manifestHops(t testing.TB, st *narstore.Store, be backend.Backend) map[int]int {
	t.Helper()
	ctx := context.Background()
	n := make(map[int]int)
	seen := make(map[narfmt.Hash]bool)
	for _, h := range liveHashes(t, st) {
		text, err := st.NarInfo(ctx, h)
		must(t, err)
		nh := narfmt.Hash(narHashOf(t, text))
		if seen[nh] {
			continue
		}
		seen[nh] = true
		m, err := st.Manifest(ctx, nh)
		must(t, err)
		if m.Locations == nil {
			t.Fatalf("manifest of NAR sha256:%s carries no locations", nh)
		}
		var residue []chunkstore.Ref
		must(t, st.ResidueChunks(ctx, m, func(r chunkstore.Ref) error { residue = append(residue, r); return nil }))
		for section, refs := range map[int][]chunkstore.Ref{narstore.SectionRecipe: m.Recipe,
			narstore.SectionPositions: m.Positions, narstore.SectionResidue: residue} {
			c := m.Locations.Cursor(section)
			for _, r := range refs {
				loc, err := c.Next(r.Size)
				must(t, err)
				n[hops(t, be, r.ID, loc)]++
			}
		}
	}
	return n
}

// storedRecords returns the forward records of the packs that are gone,
// and the packs that exist.
func storedRecords(t testing.TB, be backend.Backend) (map[chunkstore.ID]*forward.Record, map[chunkstore.ID]bool) {
	t.Helper()
	ctx := context.Background()
	exists := make(map[chunkstore.ID]bool)
	must(t, layout.List(ctx, be, layout.Pack, func(name string, _ backend.Info) error {
		id, err := chunkstore.ParseID(name)
		exists[id] = true
		return err
	}))
	recs := make(map[chunkstore.ID]*forward.Record)
	must(t, layout.List(ctx, be, layout.Forward, func(name string, _ backend.Info) error {
		id, err := chunkstore.ParseID(name)
		must(t, err)
		if !exists[id] {
			recs[id], err = forward.Get(ctx, be, id)
		}
		return err
	}))
	return recs, exists
}

// neededRecords computes, apart from the collector, which of the records
// recs a repository needs: those of the gone packs that a stored
// manifest's locations name, and of the gone packs a needed record
// forwards to.
func neededRecords(t testing.TB, st *narstore.Store, be backend.Backend, recs map[chunkstore.ID]*forward.Record) map[chunkstore.ID]bool {
	t.Helper()
	ctx := context.Background()
	_, exists := storedRecords(t, be)
	var queue []chunkstore.ID
	must(t, layout.List(ctx, be, layout.Manifest, func(name string, _ backend.Info) error {
		h, err := narfmt.ParseHash(name)
		must(t, err)
		m, err := st.Manifest(ctx, h)
		must(t, err)
		for _, p := range m.Locations.Packs() {
			if !exists[p] {
				queue = append(queue, p)
			}
		}
		return nil
	}))
	needed := make(map[chunkstore.ID]bool)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		rec := recs[p]
		if needed[p] || rec == nil {
			continue
		}
		needed[p] = true
		for _, e := range rec.Entries {
			if !exists[e.Loc.Pack] {
				queue = append(queue, e.Loc.Pack)
			}
		}
	}
	return needed
}

// A server holding manifests whose locations name packs that two
// collections repacked one after the other (A→B, then B→C) still serves
// every NAR after a third collection, and so does a new one: the records
// of A and B are kept, though no manifest names B.
func TestForwardRecordsKeptWhileNeeded(t *testing.T) {
	ctx := context.Background()
	r, _ := forwardChain(t)
	hs := liveHashes(t, r.st)
	before := manifestHops(t, r.st, r.be)
	t.Logf("manifest locations by forward records to follow: %v", before)
	if before[2] == 0 {
		t.Fatal("no manifest location needs two records: the test tests nothing")
	}
	srv := newServerProcess(t, r.be, "server")
	serveAll(t, "before the third collection", srv.st, hs)

	plantRecord(t, r) // something to delete: the collection sweeps
	rep, err := gc.Collect(ctx, r.rp, opts(t))
	must(t, err)
	if rep.DeletedForwardRecords == 0 {
		t.Error("the third collection deleted no forward record, not even the one nothing needs")
	}
	t.Logf("third collection: deleted %d packs, %d forward records; kept %d", rep.DeletedPacks, rep.DeletedForwardRecords, rep.KeptForwardRecords)
	if rep.KeptForwardRecords < 2 {
		t.Errorf("kept %d forward records, want at least the two of a chain", rep.KeptForwardRecords)
	}
	after := manifestHops(t, r.st, r.be)
	if after[-1] != 0 {
		t.Errorf("%d manifest locations lead to no pack after the third collection (%v)", after[-1], after)
	}
	serveAll(t, "the server after the third collection", srv.st, hs)
	serveAll(t, "a new server after the third collection", newServerProcess(t, r.be, "new server").st, hs)
}

// failKindDelete fails the deletion of every object of the kinds after
// the first n, as if the collection died there.
type failKindDelete struct {
	backend.Backend
	kinds map[layout.Type]bool
	n     atomic.Int64
}

func (b *failKindDelete) Delete(ctx context.Context, key string) error {
	if h, err := layout.Parse(key); err == nil && b.kinds[h.Type] && b.n.Add(-1) < 0 {
		return errKilled
	}
	return b.Backend.Delete(ctx, key)
}

// putNames stores the names object of the NAR of each store path, as
// ingest --dedup=names does.
func putNames(t testing.TB, be backend.Backend, s *sampleNARs, paths []string) {
	t.Helper()
	for _, p := range paths {
		name := path.Base(p)
		name = name[33:] // past the hash and its dash
		must(t, backend.PutBytes(context.Background(), be, layout.NameOf(name, s.narHash[p]).Key(), nil))
	}
}

// A collection deletes the forward records no manifest needs, the names
// objects of NARs no longer stored and the upload records, and keeps the
// rest; one killed while it deletes them loses nothing, and the next run
// finishes.
func TestCollectDeletesRecords(t *testing.T) {
	t.Run("whole", func(t *testing.T) { testCollectDeletesRecords(t, 0, -1) })
	for _, k := range []layout.Type{layout.Names, layout.Forward, layout.Upload} {
		t.Run("killed deleting "+k.String(), func(t *testing.T) { testCollectDeletesRecords(t, k, 0) })
	}
}

// testCollectDeletesRecords kills the third collection at its deletion of
// the (kill+1)th object of kind (not for a negative kill).
func testCollectDeletesRecords(t *testing.T, kind layout.Type, kill int) {
	ctx := context.Background()
	s := loadSampleNARs(t)
	r := newRepo(t, walkConfig())
	var all []string
	for gen := 1; gen <= 3; gen++ {
		ingestInto(t, r.rp, bucket(t, sample.Paths(gen)))
		all = append(all, sample.Paths(gen)...)
	}
	o := opts(t)
	o.RepackBelow = 1
	forgetOld(t, r, s)
	rep, err := gc.Collect(ctx, r.rp, o)
	must(t, err)
	t.Logf("first collection: deleted %d packs, wrote %d forward records", rep.DeletedPacks, rep.ForwardRecords)
	if rep.ForwardRecords == 0 {
		t.Fatal("the first collection wrote no forward record: the test tests nothing")
	}
	// Two more collections, each after forgetting a third of what is
	// left: the records of the first two become unneeded, or stay
	// needed, by the third.
	g3 := sample.Paths(3)
	var drop [2][]string
	var kept []string
	for i, p := range g3 {
		if i%3 < 2 {
			drop[i%3] = append(drop[i%3], p)
		} else {
			kept = append(kept, p)
		}
	}
	r.forget(t, drop[0])
	rep, err = gc.Collect(ctx, r.rp, o)
	must(t, err)
	t.Logf("second collection: deleted %d packs, wrote %d forward records", rep.DeletedPacks, rep.ForwardRecords)
	putNames(t, r.be, s, all)
	for i, p := range all[:2] {
		must(t, r.st.PutUpload(ctx, fmt.Sprintf("%d.nar.xz", i), narstore.Upload{NarHash: s.narHash[p], NarSize: 1, FileSize: 1}))
	}
	r.forget(t, drop[1])
	plantRecord(t, r)
	hs := liveHashes(t, r.st)
	srv := newServerProcess(t, r.be, "server")
	serveAll(t, "before", srv.st, hs)
	before, _ := storedRecords(t, r.be)

	col := r.rp
	if kill >= 0 {
		fb := &failKindDelete{Backend: r.be, kinds: map[layout.Type]bool{kind: true}}
		fb.n.Store(int64(kill))
		col = newProcess(t, fb, "gc").rp
	}
	rep, err = gc.Collect(ctx, col, o)
	if kill >= 0 {
		if !errors.Is(err, errKilled) {
			t.Fatalf("the killed collection: %v", err)
		}
		if cond, err := lease.LoadCondemned(ctx, r.be); err != nil || cond == nil {
			t.Fatalf("condemned list after the kill: %v, %v", cond, err)
		}
		serveAll(t, "after the kill", srv.st, hs)
		rep, err = gc.Collect(ctx, r.rp, o)
		must(t, err)
		if !rep.FinishedEarlier {
			t.Errorf("the run after the kill did not finish the list: %+v", rep)
		}
	}
	must(t, err)
	t.Logf("third collection: deleted %d packs, %d manifests, %d forward records of %d bytes (kept %d), %d names objects, %d upload records of %d bytes",
		rep.DeletedPacks, rep.DeletedManifests, rep.DeletedForwardRecords, rep.DeletedForwardBytes, rep.KeptForwardRecords,
		rep.DeletedNames, rep.DeletedUploads, rep.DeletedUploadBytes)

	deleted := checkRecords(t, "third collection", r.st, r.be, before)
	if deleted == 0 {
		t.Error("no forward record was deleted: the test tests nothing")
	}
	if kill < 0 && rep.DeletedForwardRecords != deleted {
		t.Errorf("the report says %d forward records deleted, %d were", rep.DeletedForwardRecords, deleted)
	}
	checkNames(t, "third collection", r.st, r.be)
	for _, p := range kept {
		key := layout.NameOf(path.Base(p)[33:], s.narHash[p]).Key()
		if _, err := r.be.Stat(ctx, key); err != nil {
			t.Errorf("names object of live path %s: %v", p, err)
		}
	}
	if rep.DeletedNames == 0 && kill < 0 {
		t.Error("no names object was deleted")
	}
	checkNoUploads(t, "third collection", r.be)
	serveAll(t, "after", srv.st, hs)
	serveAll(t, "a new server after", newServerProcess(t, r.be, "new server").st, hs)
	r.check(t, r.rp)
}

// plantRecord stores the forward record of a pack that never was, which
// nothing needs, as an earlier collection could have left it.
func plantRecord(t testing.TB, r *repo) {
	t.Helper()
	var e forward.Entry
	errFound := errors.New("found")
	err := r.rp.Chunks().Packs(func(p chunkstore.ID) error {
		return r.rp.Chunks().PackChunks(p, func(id chunkstore.ID, loc chunkstore.Location) error {
			e = forward.Entry{ID: id, Loc: loc}
			return errFound
		})
	})
	if !errors.Is(err, errFound) {
		t.Fatalf("no chunk to forward to: %v", err)
	}
	var gone chunkstore.ID
	gone[0] = 0xfe
	must(t, forward.Put(context.Background(), r.be, &forward.Record{Pack: gone, Entries: []forward.Entry{e}}))
}

// checkRecords checks that of the records before (storedRecords), those
// that st's manifests need are kept and the others deleted, and returns
// how many were.
func checkRecords(t testing.TB, tag string, st *narstore.Store, be backend.Backend, before map[chunkstore.ID]*forward.Record) (deleted int) {
	t.Helper()
	needed := neededRecords(t, st, be, before)
	after, _ := storedRecords(t, be)
	for p := range before {
		switch {
		case after[p] != nil && !needed[p]:
			t.Errorf("%s: forward record of pack %s is kept, though no manifest needs it", tag, p)
		case after[p] == nil && needed[p]:
			t.Errorf("%s: forward record of pack %s was deleted, though a manifest needs it", tag, p)
		case after[p] == nil:
			deleted++
		}
	}
	return deleted
}

// checkNames checks that every names object names a stored NAR.
func checkNames(t testing.TB, tag string, st *narstore.Store, be backend.Backend) {
	t.Helper()
	ctx := context.Background()
	must(t, layout.List(ctx, be, layout.Names, func(name string, _ backend.Info) error {
		h, err := narfmt.ParseHash(path.Base(name))
		must(t, err)
		if ok, err := st.HasManifest(ctx, h); err != nil || !ok {
			t.Errorf("%s: names object %s left for a NAR not stored (%v)", tag, name, err)
		}
		return nil
	}))
}

// checkNoUploads checks that no upload record is left.
func checkNoUploads(t testing.TB, tag string, be backend.Backend) {
	t.Helper()
	must(t, layout.List(context.Background(), be, layout.Upload, func(name string, _ backend.Info) error {
		t.Errorf("%s: upload record %s left behind", tag, name)
		return nil
	}))
}
