package gc_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/internal/sample"
	nrepo "github.com/nardedup/nardedup/repo"
)

// framesConfig has small chunks, frames and packs, so that the sample
// spreads over many packs of several frames each.
func framesConfig() nrepo.Config {
	cfg := nrepo.DefaultConfig()
	cc := &cfg.Chunks
	cc.Chunker.MinSize = 512
	cc.Chunker.AvgBits = 11
	cc.Chunker.MaxSize = 8 << 10
	cc.GroupSize = 24 << 10
	cc.PackSize = 48 << 10
	return cfg
}

// narChunks returns the live store paths and the chunks each one's NAR
// reaches, and the chunks of their recipe streams.
func narChunks(t testing.TB, r *repo) (nars map[string]map[chunkstore.ID]bool, recipes map[chunkstore.ID]bool) {
	t.Helper()
	ctx := context.Background()
	out := make(map[string]map[chunkstore.ID]bool)
	recipes = make(map[chunkstore.ID]bool)
	err := r.st.ListNarInfos(ctx, func(h string) error {
		text, err := r.st.NarInfo(ctx, h)
		if err != nil {
			return err
		}
		var storePath string
		for line := range strings.SplitSeq(string(text), "\n") {
			if v, ok := strings.CutPrefix(line, "StorePath: "); ok {
				storePath = v
			}
		}
		m, err := r.st.Manifest(ctx, narHashOf(t, text))
		if err != nil {
			return err
		}
		ids := make(map[chunkstore.ID]bool)
		for _, ref := range m.Recipe {
			recipes[ref.ID] = true
		}
		for _, ref := range append(append([]chunkstore.Ref{}, m.Recipe...), m.Positions...) {
			ids[ref.ID] = true
		}
		out[storePath] = ids
		return r.st.ResidueChunks(ctx, m, func(ref chunkstore.Ref) error {
			ids[ref.ID] = true
			return nil
		})
	})
	must(t, err)
	return out, recipes
}

// packCount counts the packs on the backend.
func packCount(t testing.TB, r *repo) int {
	t.Helper()
	n := 0
	must(t, r.be.List(context.Background(), "packs/", func(backend.Info) error { n++; return nil }))
	return n
}

// A pack due for repacking but damaged in a frame that holds live chunks
// neither stops the collection nor multiplies the packs: gc leaves it in
// place, names it and the store paths that reach its damaged frame,
// reclaims everything else and returns an error, run after run.
func TestCollectSkipsDamagedPackToRepack(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t, framesConfig())
	for gen := 1; gen <= 3; gen++ {
		ingestInto(t, r.rp, bucket(t, sample.Paths(gen)))
	}
	// Forget every other store path: most packs are then part dead.
	var all []string
	for gen := 1; gen <= 3; gen++ {
		all = append(all, sample.Paths(gen)...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	var forget []string
	for i := 0; i < len(all); i += 2 {
		forget = append(forget, all[i])
	}
	r.forget(t, forget)
	nars, recipes := narChunks(t, r)
	live := make(map[chunkstore.ID]bool)
	for _, ids := range nars {
		for id := range ids {
			live[id] = true
		}
	}

	// A pack with live and dead chunks, and a frame of it with a live one.
	cs := r.rp.Chunks()
	var victim chunkstore.ID
	var bad chunkstore.Frame
	must(t, cs.Packs(func(p chunkstore.ID) error {
		if victim != (chunkstore.ID{}) {
			return nil
		}
		frames, err := cs.PackFrames(p)
		if err != nil {
			return err
		}
		// Live bytes well below RepackBelow, and live chunks stored in
		// this pack only, so that the copy must read them here. A frame
		// holding a recipe stream's chunk would stop the mark instead.
		var liveBytes, total int64
		var withLive []chunkstore.Frame
		for _, f := range frames {
			n := 0
			for i, id := range f.Chunks {
				total += int64(f.Locs[i].Length)
				if !live[id] {
					continue
				}
				liveBytes += int64(f.Locs[i].Length)
				locs := 0
				if err := cs.Locations(id, func(chunkstore.Location) error { locs++; return nil }); err != nil {
					return err
				}
				if locs > 1 {
					return nil
				}
				n++
			}
			if n > 0 && !slices.ContainsFunc(f.Chunks, func(id chunkstore.ID) bool { return recipes[id] }) {
				withLive = append(withLive, f)
			}
		}
		if len(withLive) >= 1 && liveBytes < total*9/10 {
			victim, bad = p, withLive[len(withLive)-1]
		}
		return nil
	}))
	if victim == (chunkstore.ID{}) {
		t.Fatal("no pack with live and dead chunks in several frames")
	}
	var want []string
	for p, ids := range nars {
		for _, id := range bad.Chunks {
			if ids[id] {
				want = append(want, p)
				break
			}
		}
	}
	slices.Sort(want)
	key := chunkstore.PackKey(victim)
	data, err := backend.ReadAll(ctx, r.be, key)
	must(t, err)
	// Damage the frame's magic number: every chunk of the frame, the live
	// one among them, is then unreadable. A byte flipped farther in may
	// land in a dead chunk only, whose loss the copy rightly ignores.
	data[bad.Loc.FrameOffset] ^= 0xff
	must(t, backend.PutBytes(ctx, r.be, key, data))

	o := opts(t)
	o.RepackBelow = 0.99
	packs := packCount(t, r)
	for run := 1; run <= 2; run++ {
		rep, err := gc.Collect(ctx, r.rp, o)
		if err == nil || !errors.Is(err, chunkstore.ErrCorrupt) || !strings.Contains(err.Error(), victim.String()) {
			t.Fatalf("run %d: err %v; want one naming damaged pack %s", run, err, victim)
		}
		if len(rep.Damaged) != 1 || rep.Damaged[0].Pack != victim || !slices.Equal(rep.Damaged[0].StorePaths, want) {
			t.Fatalf("run %d: damaged %v; want pack %s reached by %q", run, rep.Damaged, victim, want)
		}
		if _, err := r.be.Stat(ctx, key); err != nil {
			t.Fatalf("run %d: damaged pack gone: %v", run, err)
		}
		if run == 1 && (rep.DeletedPacks == 0 || rep.RepackedPacks == 0) {
			t.Errorf("run 1 deleted %d packs, repacked %d; want some of each", rep.DeletedPacks, rep.RepackedPacks)
		}
		n := packCount(t, r)
		t.Logf("run %d: %d packs, was %d; deleted %d, repacked %d", run, n, packs, rep.DeletedPacks, rep.RepackedPacks)
		if n > packs {
			t.Fatalf("run %d: %d packs, %d before: the damaged pack's copies multiply", run, n, packs)
		}
		packs = n
	}
	// Every pack but the damaged one holds a live chunk: the other dead
	// packs were reclaimed.
	err = r.be.List(ctx, "packs/", func(fi backend.Info) error {
		id, err := chunkstore.ParseID(filepath.Base(fi.Key))
		must(t, err)
		if id == victim {
			return nil
		}
		toc, err := cs.ReadTOC(ctx, id)
		must(t, err)
		for _, c := range toc.Chunks {
			if live[c.ID] {
				return nil
			}
		}
		t.Errorf("pack %s holds no live chunk", id)
		return nil
	})
	must(t, err)
}
