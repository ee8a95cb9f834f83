package gc_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/narstore"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/source"
)

var (
	gcSeedFlag  = flag.Uint64("gc.seed", 1, "seed of the randomized collection tests (env NARDEDUP_GC_SEED)")
	gcStepsFlag = flag.Int("gc.steps", 0, "steps of the randomized collection test (default 40, 15 under -short)")
)

// gcSeed returns the seed of the randomized tests: the flag when given,
// else NARDEDUP_GC_SEED, else the flag's default.
func gcSeed(t *testing.T) uint64 {
	t.Helper()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "gc.seed" })
	if !set {
		if s := os.Getenv("NARDEDUP_GC_SEED"); s != "" {
			v, err := strconv.ParseUint(s, 0, 64)
			if err != nil {
				t.Fatalf("NARDEDUP_GC_SEED=%q: %v", s, err)
			}
			return v
		}
	}
	return *gcSeedFlag
}

// writerSession is the session of every writer in these tests: it reloads
// the condemned list often, so that collections do not wait long.
var writerSession = lease.SessionOptions{Kind: "ingest", Heartbeat: 50 * time.Millisecond, Lease: 5 * time.Second}

// sampleNARs is what the tests know of the sample cache.
type sampleNARs struct {
	paths   []string            // every store path of the three generations
	narHash map[string][32]byte // by store path
}

func loadSampleNARs(t testing.TB) *sampleNARs {
	t.Helper()
	dir, err := sample.WriteBucket(filepath.Join(t.TempDir(), "bucket"))
	must(t, err)
	s := &sampleNARs{narHash: make(map[string][32]byte)}
	for gen := 1; gen <= 3; gen++ {
		for _, p := range sample.Paths(gen) {
			if _, ok := s.narHash[p]; ok {
				continue
			}
			text, err := os.ReadFile(filepath.Join(dir, hashOf(p)+".narinfo"))
			must(t, err)
			s.narHash[p] = narHashOf(t, text)
			s.paths = append(s.paths, p)
		}
	}
	slices.Sort(s.paths)
	return s
}

// nars returns the distinct NarHashes of paths.
func (s *sampleNARs) nars(paths []string) map[[32]byte]bool {
	m := make(map[[32]byte]bool)
	for _, p := range paths {
		m[s.narHash[p]] = true
	}
	return m
}

// process is one process's view of the repository: a store with its own local
// index, which can be reopened with that index or a new one.
type process struct {
	name  string
	be    backend.Backend
	dir   string // of its local index files
	n     int
	index string
	// resync is the least time between two reloads of the index that a
	// missing chunk prompts (chunkstore.Options.ResyncInterval).
	resync time.Duration
	// flush seals the open pack at least this often
	// (chunkstore.Options.FlushInterval).
	flush time.Duration
	// frames is the frame cache of a reader (chunkstore.Options.FrameCache):
	// frames of packs the collector deletes stay readable from it.
	frames int64
	// noIndex opens the store without a local index, as serve does
	// (chunkstore.Options.NoIndex).
	noIndex bool
	rp      *nrepo.Repo
	cs      *chunkstore.Store
	st      *narstore.Store
}

func newProcess(t testing.TB, be backend.Backend, name string) *process {
	t.Helper()
	return startProcess(t, &process{name: name, be: be})
}

// startProcess opens p with a new local index; it is closed when the test
// ends.
func startProcess(t testing.TB, p *process) *process {
	t.Helper()
	p.dir = t.TempDir()
	p.open(t, p.newIndex())
	t.Cleanup(func() { p.close(t) })
	return p
}

// newReaderProcess is newProcess for a process that only reads, and
// reloads its index as soon as a chunk is missing. It keeps a small frame
// cache, as a server does.
func newReaderProcess(t testing.TB, be backend.Backend, name string) *process {
	t.Helper()
	return startProcess(t, &process{name: name, be: be, resync: time.Millisecond, frames: 1 << 20})
}

func (p *process) newIndex() string {
	p.n++
	return filepath.Join(p.dir, fmt.Sprintf("index-%d.db", p.n))
}

func (p *process) open(t testing.TB, index string) {
	t.Helper()
	rp, err := nrepo.Open(context.Background(), p.be, nrepo.Options{Chunks: chunkstore.Options{IndexPath: index, ResyncInterval: p.resync, FlushInterval: p.flush, FrameCache: p.frames,
		NoIndex: p.noIndex}})
	must(t, err)
	cs := rp.Chunks()
	st := rp.NARs()
	p.rp, p.cs, p.st, p.index = rp, cs, st, index
}

func (p *process) close(t testing.TB) {
	t.Helper()
	if p.cs == nil {
		return
	}
	err := p.cs.Close()
	p.rp, p.cs, p.st = nil, nil, nil
	if err != nil {
		t.Errorf("close %s: %v", p.name, err)
	}
}

// reopen restarts the process, with its local index as it was or with a
// new, empty one.
func (p *process) reopen(t testing.TB, fresh bool) {
	t.Helper()
	p.close(t)
	index := p.index
	if fresh {
		index = p.newIndex()
	}
	p.open(t, index)
}

// ingestWithSession ingests the bucket dir into rp as a writer must: inside
// a session.
func ingestWithSession(ctx context.Context, rp *nrepo.Repo, dir string) (*ingest.Stats, error) {
	ss, err := rp.Chunks().StartSession(ctx, writerSession)
	if err != nil {
		return nil, err
	}
	defer ss.Close(context.WithoutCancel(ctx))
	src, err := source.Open(dir)
	if err != nil {
		return nil, err
	}
	return ingest.Run(ctx, src, rp, ingest.Options{Session: writerSession})
}

// pickSome returns each of items with probability p (at least one, if any).
func pickSome(rng *rand.Rand, items []string, p float64) []string {
	var out []string
	for _, it := range items {
		if rng.Float64() < p {
			out = append(out, it)
		}
	}
	if len(out) == 0 && len(items) > 0 {
		out = append(out, items[rng.IntN(len(items))])
	}
	return out
}

func shortNames(paths []string) string {
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p)[:7])
	}
	return strings.Join(names, " ")
}

// walkConfig makes small chunks and many small packs of the sample, so
// that forgetting a few paths leaves packs dead, mostly dead and alive.
func walkConfig() nrepo.Config {
	cfg := nrepo.DefaultConfig()
	cfg.Chunks.Chunker.MinSize = 1 << 10
	cfg.Chunks.Chunker.AvgBits = 12
	cfg.Chunks.Chunker.MaxSize = 16 << 10
	cfg.Chunks.GroupSize = 16 << 10
	cfg.Chunks.PackSize = 16 << 10
	return cfg
}

// randomCollectOptions draws the knobs of one collection.
func randomCollectOptions(t testing.TB, rng *rand.Rand) gc.Options {
	return gc.Options{
		Grace:       -1,
		RepackBelow: []float64{-1, 0.3, 0.6, 0.95}[rng.IntN(4)],
		Wait:        30 * time.Second,
		Poll:        20 * time.Millisecond,
		TempDir:     t.TempDir(),
		Copy:        chunkstore.CopyOptions{ZstdLevel: 1 + rng.IntN(4), GroupSize: 256 << 10 << rng.IntN(4)},
	}
}

// walkState is one randomized sequence of ingests, forgets, collections and
// restarts over one repository, with the model of what it must hold.
type walkState struct {
	t    *testing.T
	ctx  context.Context
	seed uint64
	rng  *rand.Rand
	s    *sampleNARs
	r    *repo
	// Three processes: one ingests, one collects, one reads; and a
	// server that reads without an index, by the manifests' locations.
	ing, col, rd *process
	srv          *process

	live   map[string]bool   // store paths whose narinfo is stored
	stored map[[32]byte]bool // NARs stored at some point

	steps    map[string]int
	restored int // NARs stored again after a collection took them
	deleted  struct{ packs, manifests, repacked, records, names, uploads int }
	// forwarded counts the locations of live chunks, taken before a
	// collection, that named a pack it deleted: read through forward
	// records.
	forwarded int
}

func (w *walkState) livePaths() []string {
	var ps []string
	for p, ok := range w.live {
		if ok {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

func TestCollectRandomized(t *testing.T) {
	t.Run("steps", testRandomSteps)
	t.Run("grace", testRandomGrace)
	t.Run("concurrent", testRandomConcurrent)
}

// testRandomSteps interleaves ingests, forgets, collections and restarts,
// and checks after each step that every live path reassembles to its
// NarHash and, after each collection, that nothing dead remains.
func testRandomSteps(t *testing.T) {
	seed := gcSeed(t)
	steps := *gcStepsFlag
	if steps == 0 {
		steps = 40
		if testing.Short() {
			steps = 15
		}
	}
	t.Logf("seed %d (rerun with -gc.seed=%d or NARDEDUP_GC_SEED=%d), %d steps", seed, seed, seed, steps)
	r := newRepo(t, walkConfig())
	w := &walkState{t: t, ctx: context.Background(), seed: seed, rng: rand.New(rand.NewPCG(seed, 1)),
		s: loadSampleNARs(t), r: r, live: make(map[string]bool), stored: make(map[[32]byte]bool),
		steps: make(map[string]int)}
	w.ing = newProcess(t, r.be, "ingest")
	w.col = newProcess(t, r.be, "gc")
	w.rd = newReaderProcess(t, r.be, "reader")
	w.srv = newServerProcess(t, r.be, "server")
	start := time.Now()
	for i := 1; i <= steps; i++ {
		tag := fmt.Sprintf("seed %d step %d/%d", seed, i, steps)
		switch n := w.rng.IntN(10); {
		case n < 3 || len(w.livePaths()) == 0:
			w.ingest(tag)
		case n < 6:
			w.forget(tag)
		case n < 9:
			w.collect(tag)
		default:
			w.restart(tag)
		}
		w.verify(tag, w.rd.st, "reader")
		if t.Failed() {
			t.Fatalf("%s failed (rerun with -gc.seed=%d)", tag, seed)
		}
	}
	// One last collection: whatever the walk left behind goes.
	w.collect(fmt.Sprintf("seed %d final", seed))
	t.Logf("seed %d: %d steps in %s: %v; %d NARs stored again after a collection took them; collections deleted %d packs (%d repacked) and %d manifests",
		seed, steps, time.Since(start).Round(time.Millisecond), w.steps, w.restored, w.deleted.packs, w.deleted.repacked, w.deleted.manifests)
	if w.steps["gc"] == 0 || w.deleted.packs+w.deleted.manifests == 0 {
		t.Errorf("the walk collected nothing: it tests nothing")
	}
	t.Logf("seed %d: collections deleted %d forward records, %d names objects and %d upload records",
		seed, w.deleted.records, w.deleted.names, w.deleted.uploads)
	if w.deleted.names == 0 || w.deleted.uploads == 0 {
		t.Errorf("the walk deleted no names object or no upload record: it tests nothing")
	}
	t.Logf("seed %d: %d locations of live chunks read through forward records", seed, w.forwarded)
	if w.deleted.repacked > 0 && w.forwarded == 0 {
		t.Errorf("the walk repacked %d packs but read no location through a forward record", w.deleted.repacked)
	}
}

// ingest stores a random subset of the sample's store paths and checks
// what the ingest did: paths already live are skipped, a NAR whose
// manifest is gone is stored again, the others are linked.
func (w *walkState) ingest(tag string) {
	t := w.t
	w.steps["ingest"]++
	paths := pickSome(w.rng, w.s.paths, 0.5)
	skipped, newPaths := 0, 0
	want := make(map[[32]byte]bool) // NARs the ingest must store
	again := 0
	for _, p := range paths {
		if w.live[p] {
			skipped++
			continue
		}
		newPaths++
		nh := w.s.narHash[p]
		ok, err := w.ing.st.HasManifest(w.ctx, nh)
		must(t, err)
		if !ok && !want[nh] {
			want[nh] = true
			if w.stored[nh] {
				again++
			}
		}
	}
	t.Logf("%s: ingest %d paths (%d live, %d NARs to store, %d of them stored before): %s",
		tag, len(paths), skipped, len(want), again, shortNames(paths))
	stats, err := ingestWithSession(w.ctx, w.ing.rp, bucket(t, paths))
	if err != nil {
		t.Errorf("%s: ingest: %v", tag, err)
		return
	}
	if stats.Seen != len(paths) || stats.Skipped != skipped || stats.NARs != len(want) ||
		stats.Linked != newPaths-len(want) || stats.Failed != 0 {
		t.Errorf("%s: ingest of %d paths (%d live): seen %d, skipped %d, NARs %d, linked %d, failed %d; want %d NARs stored and %d linked",
			tag, len(paths), skipped, stats.Seen, stats.Skipped, stats.NARs, stats.Linked, stats.Failed, len(want), newPaths-len(want))
	}
	for _, p := range paths {
		w.live[p] = true
		w.stored[w.s.narHash[p]] = true
	}
	w.restored += again
	// What names dedup and a push leave: names objects, an upload record.
	putNames(t, w.r.be, w.s, paths)
	if w.rng.IntN(2) == 0 {
		must(t, w.ing.st.PutUpload(w.ctx, fmt.Sprintf("%d.nar", w.steps["ingest"]), narstore.Upload{NarHash: w.s.narHash[paths[0]]}))
	}
}

// forget deletes the narinfos of a random subset of the live paths.
func (w *walkState) forget(tag string) {
	w.steps["forget"]++
	paths := pickSome(w.rng, w.livePaths(), 0.5)
	w.t.Logf("%s: forget %d of %d live paths: %s", tag, len(paths), len(w.livePaths()), shortNames(paths))
	w.r.forget(w.t, paths)
	for _, p := range paths {
		delete(w.live, p)
	}
}

// restart reopens one of the processes, with its local index or a new one.
func (w *walkState) restart(tag string) {
	w.steps["restart"]++
	p := []*process{w.ing, w.col, w.rd}[w.rng.IntN(3)]
	fresh := w.rng.IntN(2) == 0
	w.t.Logf("%s: restart %s with a %s local index", tag, p.name, map[bool]string{true: "new", false: "kept"}[fresh])
	p.reopen(w.t, fresh)
}

// collect runs a collection and checks that it took exactly what no live
// narinfo reaches.
func (w *walkState) collect(tag string) {
	t := w.t
	w.steps["gc"]++
	o := randomCollectOptions(t, w.rng)
	liveNARs := w.s.nars(w.livePaths())
	dead := 0
	err := w.r.be.List(w.ctx, "manifests/", func(fi backend.Info) error {
		h, err := nixbase32.DecodeString(strings.TrimPrefix(fi.Key, "manifests/"))
		if err != nil || len(h) != 32 || !liveNARs[[32]byte(h)] {
			dead++
		}
		return nil
	})
	must(t, err)
	// Every location of a live chunk, as an index up to date holds them.
	snapProc := newProcess(t, w.r.be, "snapshot")
	snap := snapshotLocations(t, snapProc.st, snapProc.cs, liveNARs)
	snapProc.close(t)
	records, _ := storedRecords(t, w.r.be)
	rep, err := gc.Collect(w.ctx, w.col.rp, o)
	if err != nil {
		t.Errorf("%s: gc: %v", tag, err)
		return
	}
	w.deleted.records += checkRecords(t, tag, w.col.st, w.r.be, records)
	checkNames(t, tag, w.col.st, w.r.be)
	checkNoUploads(t, tag, w.r.be)
	w.deleted.names += rep.DeletedNames
	w.deleted.uploads += rep.DeletedUploads
	if len(w.livePaths()) > 0 {
		serveAll(t, tag+": server without index", w.srv.st, liveHashes(t, w.col.st))
	}
	w.forwarded += snap.check(t, tag, w.rd.cs)
	t.Logf("%s: gc (repack below %.2f, zstd %d, group %d KiB): %d packs before, condemned %d packs (%d repacked, %d chunks copied), %d manifests; deleted %d packs, %d manifests; %d packs after",
		tag, o.RepackBelow, o.Copy.ZstdLevel, o.Copy.GroupSize>>10, rep.Before.Objects["packs"], rep.CondemnedPacks, rep.RepackedPacks,
		rep.Copied.Chunks, rep.CondemnedManifests, rep.DeletedPacks, rep.DeletedManifests, rep.After.Objects["packs"])
	w.deleted.packs += rep.DeletedPacks
	w.deleted.repacked += rep.RepackedPacks
	w.deleted.manifests += rep.DeletedManifests
	if rep.Pending != "" || rep.FinishedEarlier {
		t.Errorf("%s: pending %q, finished an earlier list %v", tag, rep.Pending, rep.FinishedEarlier)
	}
	if rep.LiveNarInfos != len(w.livePaths()) || rep.LiveNARs != len(liveNARs) {
		t.Errorf("%s: gc found %d live narinfos and %d NARs, want %d and %d", tag, rep.LiveNarInfos, rep.LiveNARs, len(w.livePaths()), len(liveNARs))
	}
	if rep.CondemnedManifests != dead || rep.DeletedManifests != dead || rep.RevivedManifests != 0 || rep.RevivedPacks != 0 {
		t.Errorf("%s: %d dead manifests; gc condemned %d, deleted %d, revived %d manifests and %d packs",
			tag, dead, rep.CondemnedManifests, rep.DeletedManifests, rep.RevivedManifests, rep.RevivedPacks)
	}
	if o.RepackBelow < 0 && rep.RepackedPacks != 0 {
		t.Errorf("%s: repacked %d packs with repacking off", tag, rep.RepackedPacks)
	}
	if rep.CondemnedPacks != rep.DeletedPacks {
		t.Errorf("%s: condemned %d packs, deleted %d", tag, rep.CondemnedPacks, rep.DeletedPacks)
	}
	w.afterCollect(tag, w.col.rp, len(liveNARs))
	fresh := newProcess(t, w.r.be, "fresh")
	w.verify(tag, fresh.st, "new index")
	fresh.close(t)
}

// afterCollect checks a repository after a collection finished: every
// live NAR verifies through rp, no dead pack or manifest is left, nor the
// condemned list nor a session, and index/ and packs/ name the same packs.
func (w *walkState) afterCollect(tag string, rp *nrepo.Repo, nars int) {
	t := w.t
	if n := w.r.check(t, rp); n != nars {
		t.Errorf("%s: verified %d NARs, want %d", tag, n, nars)
	}
	for _, prefix := range []string{lease.CondemnedKey, lease.SessionsPrefix} {
		err := w.r.be.List(w.ctx, prefix, func(fi backend.Info) error {
			t.Errorf("%s: %s left behind", tag, fi.Key)
			return nil
		})
		must(t, err)
	}
	checkPacksIndexed(t, w.r.be, tag)
}

// checkPacksIndexed checks that every pack has an index object and every
// index object a pack.
func checkPacksIndexed(t testing.TB, be backend.Backend, tag string) {
	t.Helper()
	ids := func(prefix string) map[string]bool {
		m := make(map[string]bool)
		err := be.List(context.Background(), prefix, func(fi backend.Info) error {
			m[fi.Key[strings.LastIndexByte(fi.Key, '/')+1:]] = true
			return nil
		})
		must(t, err)
		return m
	}
	packs, index := ids("packs/"), ids("index/")
	for id := range packs {
		if !index[id] {
			t.Errorf("%s: pack %s has no index object", tag, id)
		}
	}
	for id := range index {
		if !packs[id] {
			t.Errorf("%s: index object %s has no pack", tag, id)
		}
	}
}

// verify checks through st that the repository serves exactly the live
// paths and that each reassembles to its NarHash.
func (w *walkState) verify(tag string, st *narstore.Store, via string) {
	t := w.t
	res, err := admin.Verify(w.ctx, st, nil)
	if err != nil {
		t.Errorf("%s: verify via %s: %v", tag, via, err)
		return
	}
	for _, d := range res.Damaged {
		t.Errorf("%s: verify via %s: damaged %s: %v", tag, via, d.Hash, d.Err)
	}
	if want := len(w.s.nars(w.livePaths())); res.NARs != want {
		t.Errorf("%s: verify via %s: %d NARs, want %d", tag, via, res.NARs, want)
	}
	listed := make(map[string]bool)
	must(t, st.ListNarInfos(w.ctx, func(h string) error { listed[h] = true; return nil }))
	want := make(map[string]bool)
	for _, p := range w.livePaths() {
		want[hashOf(p)] = true
	}
	if !sameKeys(listed, want) {
		t.Errorf("%s: the repository lists %d narinfos, want the %d live paths", tag, len(listed), len(want))
	}
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// testRandomGrace checks that a collection with a grace period longer than
// the repository's age condemns nothing, and that the same collection
// without one does.
func testRandomGrace(t *testing.T) {
	ctx := context.Background()
	seed := gcSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	s := loadSampleNARs(t)
	r := newRepo(t, walkConfig())
	p := newProcess(t, r.be, "ingest")
	for gen := 1; gen <= 3; gen++ {
		if _, err := ingestWithSession(ctx, p.rp, bucket(t, sample.Paths(gen))); err != nil {
			t.Fatal(err)
		}
	}
	// Every generation of bzip2, whose packs then die, and others.
	var forgotten []string
	for _, p := range s.paths {
		if strings.HasSuffix(p, "-bzip2-1.0.8") || rng.IntN(3) == 0 {
			forgotten = append(forgotten, p)
		}
	}
	r.forget(t, forgotten)
	before := r.size(t)
	o := randomCollectOptions(t, rng)
	o.Grace = time.Hour
	rep, err := gc.Collect(ctx, p.rp, o)
	must(t, err)
	t.Logf("seed %d: forgot %d of %d paths; with a grace of 1h: %d packs younger, condemned %d packs %d manifests, deleted %d packs %d manifests",
		seed, len(forgotten), len(s.paths), rep.FreshPacksSkipped, rep.CondemnedPacks, rep.CondemnedManifests, rep.DeletedPacks, rep.DeletedManifests)
	if rep.FreshPacksSkipped == 0 || rep.FreshPacksSkipped != rep.Before.Objects["packs"] {
		t.Errorf("%d packs younger than the grace period, want all %d", rep.FreshPacksSkipped, rep.Before.Objects["packs"])
	}
	if rep.CondemnedPacks+rep.CondemnedManifests+rep.DeletedPacks+rep.DeletedManifests != 0 {
		t.Errorf("a collection within the grace period condemned or deleted something: %+v", rep)
	}
	if after := r.size(t); after != before {
		t.Errorf("repository %d bytes before, %d after", before, after)
	}
	if _, err := r.be.Stat(ctx, lease.CondemnedKey); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("condemned list: %v", err)
	}
	// Without the grace period the same collection finds the garbage: the
	// grace period was what kept it.
	o.Grace = -1
	rep, err = gc.Collect(ctx, p.rp, o)
	must(t, err)
	if rep.DeletedManifests == 0 || rep.DeletedPacks == 0 || rep.FreshPacksSkipped != 0 {
		t.Errorf("without a grace period: deleted %d packs and %d manifests, %d packs younger; want some of each deleted",
			rep.DeletedPacks, rep.DeletedManifests, rep.FreshPacksSkipped)
	}
	w := &walkState{t: t, ctx: ctx, s: s, r: r, live: make(map[string]bool)}
	for _, p := range s.paths {
		w.live[p] = !slices.Contains(forgotten, p)
	}
	w.afterCollect(fmt.Sprintf("seed %d", seed), newProcess(t, r.be, "fresh").rp, len(s.nars(w.livePaths())))
}

// concSummary adds up the concurrent rounds.
type concSummary struct {
	rounds, overlapped, reads, passes, waits int
	condemning                               int // rounds whose collection condemned a manifest
	deletedPacks, deletedManifests           int
	revivedPacks, revivedManifests           int
	secondPacks                              int // duplicates the next collection took
}

// testRandomConcurrent runs collections while another process ingests
// (among others the paths whose NARs the collection condemns) and a third
// one reads every live NAR over and over.
func testRandomConcurrent(t *testing.T) {
	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	base := gcSeed(t)
	s := loadSampleNARs(t)
	var sum concSummary
	for i := range rounds {
		seed := base + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { concurrentRound(t, s, seed, &sum) })
	}
	if sum.condemning == 0 {
		t.Errorf("no collection condemned a manifest: the rounds test nothing")
	}
	t.Logf("%d rounds (seeds %d to %d), %d with the ingest and the collection overlapping, %d condemning manifests; %d NARs read in %d passes; the collections polled %d times for writers, deleted %d packs and %d manifests, revived %d packs and %d manifests; the next collections took %d packs stored again meanwhile",
		sum.rounds, base, base+uint64(rounds)-1, sum.overlapped, sum.condemning, sum.reads, sum.passes, sum.waits,
		sum.deletedPacks, sum.deletedManifests, sum.revivedPacks, sum.revivedManifests, sum.secondPacks)
}

func concurrentRound(t *testing.T, s *sampleNARs, seed uint64, sum *concSummary) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 3))
	r := newRepo(t, walkConfig())

	// The repository before: part of the sample in two ingests, then some
	// of it forgotten.
	setup := newProcess(t, r.be, "setup")
	initial := pickSome(rng, s.paths, 0.7)
	for _, part := range [][]string{initial[:len(initial)/2], initial[len(initial)/2:]} {
		if len(part) > 0 {
			if _, err := ingestWithSession(ctx, setup.rp, bucket(t, part)); err != nil {
				t.Fatal(err)
			}
		}
	}
	forgotten := pickSome(rng, initial, 0.4)
	r.forget(t, forgotten)
	live := make(map[string]bool)
	for _, p := range initial {
		live[p] = !slices.Contains(forgotten, p)
	}
	// The ingest during the collection stores every other path: new ones
	// first, then those just forgotten, whose NARs the collection
	// condemns unless the ingest links them before it marks.
	var unseen, back []string
	for _, p := range s.paths {
		switch {
		case slices.Contains(forgotten, p):
			back = append(back, p)
		case !live[p]:
			unseen = append(unseen, p)
		}
	}
	rng.Shuffle(len(unseen), func(i, j int) { unseen[i], unseen[j] = unseen[j], unseen[i] })
	rng.Shuffle(len(back), func(i, j int) { back[i], back[j] = back[j], back[i] })
	todo := append(unseen, back...)
	var dirs []string
	var pauses []time.Duration
	for rest := todo; len(rest) > 0; {
		n := min(1+rng.IntN(3), len(rest))
		dirs = append(dirs, bucket(t, rest[:n]))
		pauses = append(pauses, time.Duration(rng.IntN(20))*time.Millisecond)
		rest = rest[n:]
	}
	gcDelay := time.Duration(rng.IntN(30)) * time.Millisecond
	o := randomCollectOptions(t, rng)
	var waits int
	o.Logf = func(format string, args ...any) {
		if strings.HasPrefix(format, "%s") {
			waits++ // "waiting for …"
		}
	}
	keepIndex := rng.IntN(2) == 0
	t.Logf("seed %d: %d paths stored, %d forgotten (%s); then ingest %d paths in %d runs while a collection starts after %s (repack below %.2f, zstd %d, group %d KiB); ingest with kept index %v",
		seed, len(initial), len(forgotten), shortNames(forgotten), len(todo), len(dirs), gcDelay, o.RepackBelow, o.Copy.ZstdLevel, o.Copy.GroupSize>>10, keepIndex)

	// The ingest seals its open pack every 100ms, as the command does
	// (every 30s by default): a NAR it stored before it loaded the list
	// holds the collection back until its pack is stored, and without a
	// flush that is at the end of the run, which a path waiting for the
	// sweep holds back in turn (see TestIngestWaitingForSweep).
	const flush = 100 * time.Millisecond
	ing := setup
	setup.close(t)
	if keepIndex {
		setup.flush = flush
		setup.open(t, setup.index)
	} else {
		ing = startProcess(t, &process{name: "ingest", be: r.be, flush: flush})
	}
	col := newProcess(t, r.be, "gc")
	rd := newReaderProcess(t, r.be, "reader")
	srv := newServerProcess(t, r.be, "server")

	// The reader reads every live NAR through and checks it, until told
	// to stop; so does the server, which has no index.
	var (
		mu       sync.Mutex
		readErrs []string
		reads    int
		passes   int
	)
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var hashes []string
			err := rd.st.ListNarInfos(ctx, func(h string) error {
				hashes = append(hashes, h)
				return nil
			})
			for i, h := range hashes {
				st := rd.st
				if i%2 == 1 {
					st = srv.st
				}
				rerr := readAndCheckNAR(ctx, st, h)
				mu.Lock()
				if rerr != nil {
					readErrs = append(readErrs, rerr.Error())
				} else {
					reads++
				}
				mu.Unlock()
			}
			mu.Lock()
			if err != nil {
				readErrs = append(readErrs, err.Error())
			}
			passes++
			mu.Unlock()
		}
	}()

	// The ingest, inside a session as every writer. It is cancelled if it
	// does not finish within a minute after the collection.
	ingCtx, cancelIngest := context.WithCancel(ctx)
	defer cancelIngest()
	var ingEnd time.Time // set before ingDone is sent
	ingDone := make(chan error, 1)
	ingStart := time.Now()
	go func() {
		err := func() error {
			ss, err := ing.cs.StartSession(ingCtx, writerSession)
			if err != nil {
				return err
			}
			defer ss.Close(ctx)
			for i, dir := range dirs {
				src, err := source.Open(dir)
				if err == nil {
					_, err = ingest.Run(ingCtx, src, ing.rp, ingest.Options{Session: writerSession})
				}
				if err != nil {
					return fmt.Errorf("run %d: %w", i+1, err)
				}
				time.Sleep(pauses[i])
			}
			return nil
		}()
		ingEnd = time.Now()
		ingDone <- err
	}()

	time.Sleep(gcDelay)
	gcStart := time.Now()
	rep, gcErr := gc.Collect(ctx, col.rp, o)
	gcEnd := time.Now()
	tag := fmt.Sprintf("seed %d", seed)
	if gcErr != nil {
		t.Errorf("%s: gc: %v", tag, gcErr)
	} else if rep.Pending != "" {
		t.Errorf("%s: gc left its list after %s: %s", tag, gcEnd.Sub(gcStart).Round(time.Millisecond), rep.Pending)
	}
	var ingErr error
	select {
	case ingErr = <-ingDone:
	case <-time.After(time.Minute):
		cancelIngest()
		ingErr = fmt.Errorf("still running a minute after the collection ended (cancelled: %v)", <-ingDone)
	}
	close(stop)
	<-readerDone
	if ingErr != nil {
		t.Errorf("%s: ingest: %v", tag, ingErr)
	}
	if gcErr != nil {
		t.FailNow()
	}
	overlap := ingStart.Before(gcEnd) && gcStart.Before(ingEnd)
	t.Logf("%s: gc %s (ingest from %s to %s after its start): condemned %d packs (%d repacked), %d manifests; deleted %d packs, %d manifests; revived %d packs, %d manifests; polled %d times for writers; reader: %d NARs in %d passes",
		tag, gcEnd.Sub(gcStart).Round(time.Millisecond), ingStart.Sub(gcStart).Round(time.Millisecond), ingEnd.Sub(gcStart).Round(time.Millisecond),
		rep.CondemnedPacks, rep.RepackedPacks, rep.CondemnedManifests, rep.DeletedPacks, rep.DeletedManifests,
		rep.RevivedPacks, rep.RevivedManifests, waits, reads, passes)
	for _, e := range readErrs {
		t.Errorf("%s: read: %s", tag, e)
	}
	if reads == 0 {
		t.Errorf("%s: the reader read nothing", tag)
	}
	sum.rounds++
	if rep.CondemnedManifests > 0 {
		sum.condemning++
	}
	if overlap {
		sum.overlapped++
	}
	sum.reads += reads
	sum.passes += passes
	sum.waits += waits
	sum.deletedPacks += rep.DeletedPacks
	sum.deletedManifests += rep.DeletedManifests
	sum.revivedPacks += rep.RevivedPacks
	sum.revivedManifests += rep.RevivedManifests

	// Every path is live now, and reassembles through a new index.
	w := &walkState{t: t, ctx: ctx, s: s, r: r, live: make(map[string]bool)}
	for _, p := range s.paths {
		w.live[p] = true
	}
	fresh := newProcess(t, r.be, "fresh")
	w.verify(tag+" after", fresh.st, "new index")
	w.afterCollect(tag+" after", fresh.rp, len(s.nars(s.paths)))
	// A collection now, with nobody else about, finds no dead manifest;
	// it may find packs whose chunks were stored again meanwhile, and
	// takes them. Then nothing is left to condemn.
	o = gc.Options{Grace: -1, RepackBelow: -1, Wait: 10 * time.Second, Poll: 20 * time.Millisecond, TempDir: t.TempDir()}
	records, _ := storedRecords(t, r.be)
	rep, err := gc.Collect(ctx, col.rp, o)
	must(t, err)
	checkRecords(t, tag+" after a second collection", col.st, r.be, records)
	serveAll(t, tag+" after a second collection: server", srv.st, liveHashes(t, col.st))
	if rep.CondemnedManifests != 0 || rep.DeletedPacks != rep.CondemnedPacks {
		t.Errorf("%s: a second collection condemned %d packs and %d manifests, deleted %d packs", tag, rep.CondemnedPacks, rep.CondemnedManifests, rep.DeletedPacks)
	}
	sum.secondPacks += rep.DeletedPacks
	w.verify(tag+" after a second collection", newProcess(t, r.be, "fresh").st, "new index")
	if rep, err = gc.Collect(ctx, col.rp, o); err != nil || rep.CondemnedPacks+rep.CondemnedManifests != 0 {
		t.Errorf("%s: a third collection: %v, condemned %d packs and %d manifests", tag, err, rep.CondemnedPacks, rep.CondemnedManifests)
	}
}

// readAndCheckNAR reads the NAR of the narinfo with hash h through and checks it
// against its NarHash.
func readAndCheckNAR(ctx context.Context, st *narstore.Store, h string) error {
	text, err := st.NarInfo(ctx, h)
	if err != nil {
		return fmt.Errorf("narinfo %s: %w", h, err)
	}
	var nh [32]byte
	found := false
	for line := range strings.SplitSeq(string(text), "\n") {
		if v, ok := strings.CutPrefix(line, "NarHash: "); ok {
			if nh, err = parseNarHash(v); err != nil {
				return fmt.Errorf("narinfo %s: %w", h, err)
			}
			found = true
		}
	}
	if !found {
		return fmt.Errorf("narinfo %s: no NarHash", h)
	}
	rc, _, err := st.Open(ctx, nh)
	if err != nil {
		return fmt.Errorf("%s: open NAR: %w", h, err)
	}
	defer rc.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, rc); err != nil {
		return fmt.Errorf("%s: read NAR: %w", h, err)
	}
	if [32]byte(sum.Sum(nil)) != nh {
		return fmt.Errorf("%s: NAR read does not match its NarHash", h)
	}
	return nil
}

// pauseBackend runs a function before the first deletion of one key, so
// that a test can act at that moment of a collection's sweep. Everything
// else goes to the real backend.
type pauseBackend struct {
	backend.Backend
	key    string
	once   sync.Once
	before func()
}

func (b *pauseBackend) Delete(ctx context.Context, key string) error {
	if key == b.key {
		b.once.Do(b.before)
	}
	return b.Backend.Delete(ctx, key)
}

// TestReingestDuringSweep ingests a forgotten path again while a
// collection sweeps: after the collection has waited for every writer to
// load its condemned list and has marked again, just before it deletes the
// path's condemned manifest. The writer has loaded the list, so it must
// neither link to the condemned manifest nor write it again before the
// sweep is over; the path must reassemble once both are done.
func TestReingestDuringSweep(t *testing.T) {
	ctx := context.Background()
	s := loadSampleNARs(t)
	r := newRepo(t, walkConfig())
	gen1 := sample.Paths(1)
	ingestInto(t, r.rp, bucket(t, gen1))
	// A path no other path of gen 1 shares its NAR with.
	var x string
	for _, p := range gen1 {
		n := 0
		for _, q := range gen1 {
			if s.narHash[q] == s.narHash[p] {
				n++
			}
		}
		if n == 1 {
			x = p
			break
		}
	}
	r.forget(t, []string{x})
	dir := bucket(t, []string{x})
	nh := s.narHash[x]

	ing := newProcess(t, r.be, "ingest")
	type result struct {
		stats *ingest.Stats
		err   error
	}
	ingDone := make(chan result, 1)
	var early bool // the ingest finished before the sweep went on
	pb := &pauseBackend{Backend: r.be, key: layout.ManifestOf(nh).Key(), before: func() {
		go func() {
			stats, err := ingestWithSession(ctx, ing.rp, dir)
			ingDone <- result{stats, err}
		}()
		// Give the ingest the time to store the NAR, if it does not wait
		// for the sweep.
		select {
		case res := <-ingDone:
			early = true
			ingDone <- res
		case <-time.After(time.Second):
		}
	}}
	col := newProcess(t, pb, "gc")
	rep, err := gc.Collect(ctx, col.rp, opts(t))
	must(t, err)
	if rep.DeletedManifests != 1 {
		t.Fatalf("the collection deleted %d manifests, want that of %s: %+v", rep.DeletedManifests, x, rep)
	}
	var res result
	select {
	case res = <-ingDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the ingest did not finish after the collection")
	}
	if res.err != nil {
		t.Fatalf("ingest during the sweep: %v", res.err)
	}
	t.Logf("ingest of %s during the sweep: finished before the sweep went on %v; %d NARs stored, %d linked", x, early, res.stats.NARs, res.stats.Linked)
	if res.stats.NARs != 1 {
		t.Errorf("the ingest during the sweep stored %d NARs, linked %d paths; want the NAR stored again", res.stats.NARs, res.stats.Linked)
	}
	w := &walkState{t: t, ctx: ctx, s: s, r: r, live: make(map[string]bool)}
	for _, p := range gen1 {
		w.live[p] = true
	}
	fresh := newProcess(t, r.be, "fresh")
	w.verify("after the collection", fresh.st, "new index")
	w.afterCollect("after the collection", fresh.rp, len(s.nars(gen1)))
}

// gatedSource is a real source that holds back the narinfo of one store
// path until open is closed, and tells when a NAR file it opened is closed.
type gatedSource struct {
	source.Source
	gate   string // store path hash
	open   chan struct{}
	closed chan string // URLs of NAR files read and closed
}

func (g *gatedSource) NarInfo(ctx context.Context, hash string) ([]byte, error) {
	if hash == g.gate {
		select {
		case <-g.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Source.NarInfo(ctx, hash)
}

func (g *gatedSource) Open(ctx context.Context, url string) (io.ReadCloser, error) {
	rc, err := g.Source.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	return &notifyCloser{ReadCloser: rc, url: url, closed: g.closed}, nil
}

type notifyCloser struct {
	io.ReadCloser
	url    string
	once   sync.Once
	closed chan string
}

func (n *notifyCloser) Close() error {
	err := n.ReadCloser.Close()
	n.once.Do(func() { n.closed <- n.url })
	return err
}

// TestIngestWaitingForSweep: an ingest stores a new NAR y (its frames wait
// in the open pack for the end of the run), then a collection condemns
// the NAR of a forgotten path x, then the ingest meets x. Waiting for the
// sweep must hold back neither the collection nor, once it swept, the
// ingest.
func TestIngestWaitingForSweep(t *testing.T) {
	ctx := context.Background()
	s := loadSampleNARs(t)
	r := newRepo(t, nrepo.DefaultConfig()) // one pack takes every new frame until the run ends
	// y is a package the repository does not hold yet, x one of those it
	// holds.
	var x, y string
	var initial []string
	for _, p := range sample.Paths(1) {
		switch {
		case strings.Contains(p, "-zlib-"):
			y = p
		case strings.HasSuffix(p, "-bzip2-1.0.8"):
			x = p
			initial = append(initial, p)
		default:
			initial = append(initial, p)
		}
	}
	ingestInto(t, r.rp, bucket(t, initial))
	r.forget(t, []string{x})

	ing := newProcess(t, r.be, "ingest")
	dirSrc, err := source.Open(bucket(t, []string{x, y}))
	must(t, err)
	src := &gatedSource{Source: dirSrc, gate: hashOf(x), open: make(chan struct{}), closed: make(chan string, 4)}
	ingCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		stats *ingest.Stats
		err   error
	}
	ingDone := make(chan result, 1)
	ss, err := ing.cs.StartSession(ctx, writerSession)
	must(t, err)
	defer ss.Close(ctx)
	go func() {
		stats, err := ingest.Run(ingCtx, src, ing.rp, ingest.Options{Jobs: 2, Session: writerSession})
		ingDone <- result{stats, err}
	}()
	// y's NAR is read and stored, its frames wait in the open pack.
	select {
	case <-src.closed:
	case res := <-ingDone:
		t.Fatalf("ingest ended early: %v", res.err)
	case <-time.After(30 * time.Second):
		t.Fatal("the ingest did not read the NAR of y")
	}
	col := newProcess(t, r.be, "gc")
	o := opts(t)
	o.Wait = 2 * time.Second
	o.Logf = nil
	gcDone := make(chan *gc.Report, 1)
	go func() {
		rep, err := gc.Collect(ctx, col.rp, o)
		if err != nil {
			t.Errorf("gc: %v", err)
		}
		gcDone <- rep
	}()
	// Once the ingest has loaded the list, it meets x.
	for deadline := time.Now().Add(30 * time.Second); ing.cs.Lease().View() == ""; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the ingest did not load the condemned list")
		}
	}
	close(src.open)
	rep := <-gcDone
	if rep == nil {
		t.FailNow()
	}
	var res result
	stalled := false
	select {
	case res = <-ingDone:
	case <-time.After(5 * time.Second):
		stalled = true
		cancel()
		res = <-ingDone
	}
	t.Logf("x %s, y %s: gc condemned %d manifests, deleted %d, pending %q; ingest stalled %v: %v",
		filepath.Base(x), filepath.Base(y), rep.CondemnedManifests, rep.DeletedManifests, rep.Pending, stalled, res.err)
	if rep.CondemnedManifests != 1 {
		t.Fatalf("gc condemned %d manifests, want x's", rep.CondemnedManifests)
	}
	if res.stats == nil || res.stats.NewChunks == 0 {
		t.Fatalf("y stored no new chunk (%+v): nothing waited in the open pack, the test tests nothing", res.stats)
	}
	if rep.Pending != "" || stalled || res.err != nil {
		t.Fatalf("gc pending %q; ingest stalled %v: %v", rep.Pending, stalled, res.err)
	}
	if res.stats.NARs != 2 {
		t.Errorf("the ingest stored %d NARs, want x's again and y's", res.stats.NARs)
	}
	w := &walkState{t: t, ctx: ctx, s: s, r: r, live: make(map[string]bool)}
	for _, p := range append(initial, y) {
		w.live[p] = true
	}
	w.verify("after", newProcess(t, r.be, "fresh").st, "new index")
}
