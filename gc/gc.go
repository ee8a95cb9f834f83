package gc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo"
)

// Defaults of Options.
const (
	DefaultGrace       = time.Hour
	DefaultRepackBelow = 0.5
	DefaultWait        = 15 * time.Minute
)

// Options configure a collection.
type Options struct {
	// Grace: packs and manifests stored less than this long ago (by the
	// backend's clock) are never condemned (default 1h; negative: none).
	Grace time.Duration
	// RepackBelow: a pack whose live bytes are less than this fraction of
	// its chunk bytes is repacked (default 0.5; negative: never).
	RepackBelow float64
	// Wait bounds how long the collection waits for running writers to
	// load its condemned list (default 15m; negative: not at all). If they
	// have not, the list stays for the next run to finish.
	Wait time.Duration
	// Poll is how often the sessions are checked while waiting (default
	// 5s).
	Poll time.Duration
	// DryRun reports what would be condemned and changes nothing.
	DryRun bool
	// Exclude, with DryRun, treats the narinfos of the store path hashes
	// it reports true for as gone: what would forgetting them free?
	Exclude func(hash string) bool
	// TempDir holds the live set (default os.TempDir()).
	TempDir string
	// Copy configures the packs that repacking writes.
	Copy chunkstore.CopyOptions
	// Recompress configures the recompression of cold packs (off by
	// default).
	Recompress RecompressOptions
	// Session configures the collection's own session.
	Session lease.SessionOptions
	// Workers read narinfos and manifests in parallel (default 4).
	Workers int
	// Logf, if set, reports progress.
	Logf func(format string, args ...any)
	// Progress, if set, is called as the first mark reads narinfos, with
	// the number marked so far and the sum of their NarSize. The mark's
	// workers call it under a lock: it must return quickly.
	Progress func(narInfos int, narBytes int64)
	// Phase, if set, is called as the collection enters each of its
	// phases, in this order, each only if it runs: list (the usage
	// before), mark, condemn, repack, recompress, wait (for the writers
	// to load the condemned list), remark, delete, and list again (the
	// usage after).
	Phase func(phase string)
}

// Usage describes the repository's objects at one moment.
type Usage struct {
	Bytes     int64            // every object
	Objects   map[string]int   // by kind: packs, index, manifests, narinfo, …
	KindBytes map[string]int64 // by kind
	// Chunks counts the chunk locations the collection's index holds (a
	// chunk stored in two packs counts twice).
	Chunks int
}

// Report says what a collection found and did.
type Report struct {
	Before, After Usage
	// Live is what the narinfos reach.
	LiveNarInfos int
	LiveNarBytes int64 // sum of NarSize
	LiveNARs     int   // distinct manifests
	LiveChunks   int

	// Condemned by this run (with DryRun: would be).
	CondemnedPacks     int
	CondemnedPackBytes int64
	CondemnedManifests int
	RepackedPacks      int
	Copied             chunkstore.CopyResult
	// Recompressed cold packs, their live chunk bytes and the copies.
	RecompressedPacks   int
	RecompressLiveBytes int64
	Recompressed        chunkstore.CopyResult

	// Swept: deleted by this run, from its own list or an earlier one.
	DeletedPacks      int
	DeletedPackBytes  int64
	DeletedManifests  int
	RevivedPacks      int
	RevivedManifests  int
	ForwardRecords    int    // written for deleted packs (kept if already there)
	FinishedEarlier   bool   // this run finished an earlier run's list
	Pending           string // why a condemned list is left for a later run
	FreshPacksSkipped int    // younger than the grace period
	StaleSessions     int    // announcements of dead writers removed
	UnindexedPacks    int    // packs without an index object, condemned
	// Damaged are the packs due for repacking that could not be read
	// whole: left in place, and Collect returns an error.
	Damaged []DamagedPack
	// FreedBytes estimates what the condemned objects free: dead packs
	// and manifests whole, repacked packs in proportion to their dead
	// chunk bytes (and narinfos that Exclude drops).
	FreedBytes int64

	// Swept too (see the package documentation): forward records of
	// deleted packs, and those kept because a manifest still needs them;
	// names objects of NARs no longer stored (they are empty); upload
	// records of pushed NAR files.
	DeletedForwardRecords int
	DeletedForwardBytes   int64
	KeptForwardRecords    int
	DeletedNames          int
	DeletedUploads        int
	DeletedUploadBytes    int64
}

// Collect runs one garbage collection over the repository (see the package
// documentation).
func Collect(ctx context.Context, rp *repo.Repo, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	g := &collector{st: rp.NARs(), cs: rp.Chunks(), be: rp.Backend(), opts: opts, rep: &Report{}}
	return g.run(ctx)
}

func (o Options) withDefaults() Options {
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	if o.Grace < 0 {
		o.Grace = 0
	}
	if o.RepackBelow == 0 {
		o.RepackBelow = DefaultRepackBelow
	}
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Phase == nil {
		o.Phase = func(string) {}
	}
	o.Session.Kind = "gc"
	return o
}

type collector struct {
	st   *narstore.Store
	cs   *chunkstore.Store
	be   backend.Backend
	opts Options
	rep  *Report
	ss   *lease.Session
	lc   *lease.Collector // the protocol's collection side
	// damagedChunks are the live chunks in the damaged frames of the
	// packs in rep.Damaged, to each its pack's index there.
	damagedChunks map[chunkstore.ID]int
	// names are the live store paths' names and NARs, from the mark, for
	// recompression's order.
	names []narName
}

// usage lists the repository and counts the chunks in the index.
func (g *collector) usage(ctx context.Context) (Usage, error) {
	u, err := usage(ctx, g.be)
	if err == nil {
		_, u.Chunks, err = g.cs.IndexStats()
	}
	return u, err
}

// usage lists the repository.
func usage(ctx context.Context, be backend.Backend) (Usage, error) {
	u := Usage{Objects: make(map[string]int), KindBytes: make(map[string]int64)}
	err := be.List(ctx, "", func(fi backend.Info) error {
		kind, _, _ := strings.Cut(fi.Key, "/")
		u.Objects[kind]++
		u.KindBytes[kind] += fi.Size
		u.Bytes += fi.Size
		return nil
	})
	if err != nil {
		return u, fmt.Errorf("gc: list %s: %w", be, err)
	}
	return u, nil
}

func (g *collector) run(ctx context.Context) (rep *Report, err error) {
	g.opts.Phase("list")
	if g.rep.Before, err = g.usage(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if rep != nil {
			g.opts.Phase("list")
			if u, uerr := g.usage(ctx); uerr == nil {
				rep.After = u
			} else if err == nil {
				err = uerr
			}
		}
	}()
	end, err := g.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	old, err := lease.LoadCondemned(ctx, g.be)
	if err != nil {
		return nil, err
	}
	if done, err := g.finishEarlier(ctx, old); err != nil || !done {
		return g.rep, err
	}
	start, err := g.lc.Now(ctx)
	if err != nil {
		return g.rep, err
	}
	live, err := newLiveSet(g.opts.TempDir)
	if err != nil {
		return g.rep, err
	}
	defer live.close()
	if err := g.markLive(ctx, live); err != nil {
		return g.rep, err
	}
	cond, err := g.condemn(ctx, live, start)
	if err == nil && cond != nil && !g.opts.DryRun {
		_, err = g.sweep(ctx, cond, live, start.Add(-time.Minute))
	}
	if err == nil {
		err = g.reportDamage(ctx)
	}
	return g.rep, err
}

// begin starts the collection's side of the protocol: its session, once
// no other collection runs. A dry run writes nothing and has no session.
// end closes the session.
func (g *collector) begin(ctx context.Context) (end func(), err error) {
	g.lc = lease.NewCollector(g.be, nil)
	if g.opts.DryRun {
		return func() {}, nil
	}
	if g.ss, err = g.cs.StartSession(ctx, g.opts.Session); err != nil {
		return nil, err
	}
	end = func() { g.ss.Close(context.WithoutCancel(ctx)) }
	g.lc = lease.NewCollector(g.be, g.ss)
	if err := g.lc.Alone(ctx); err != nil {
		end()
		return nil, err
	}
	return end, nil
}

// finishEarlier sweeps the condemned list an earlier collection left
// (old), if any. It reports false if the list still stands: a dry run, or
// writers that have not loaded it yet.
func (g *collector) finishEarlier(ctx context.Context, old *lease.Condemned) (bool, error) {
	if old == nil {
		return true, nil
	}
	if g.opts.DryRun {
		g.rep.Pending = fmt.Sprintf("an earlier collection's list %s awaits its sweep", old.ID)
		return false, nil
	}
	g.opts.Logf("finishing the sweep of an earlier collection (%s)", old.ID)
	g.rep.FinishedEarlier = true
	return g.sweep(ctx, old, nil, time.Time{})
}

// markLive marks what every narinfo reaches (the first mark) and reports
// it.
func (g *collector) markLive(ctx context.Context, live *liveSet) error {
	g.opts.Phase("mark")
	g.opts.Logf("marking")
	if g.opts.Exclude != nil && !g.opts.DryRun {
		return errors.New("gc: Exclude needs DryRun")
	}
	ms, err := mark(ctx, g.be, g.st, live, markOptions{workers: g.opts.Workers, exclude: g.opts.Exclude,
		names: g.opts.Recompress.Enabled && !g.opts.Recompress.StoredOrder, progress: g.opts.Progress})
	if err != nil {
		return err
	}
	g.rep.LiveNarInfos, g.rep.LiveNarBytes, g.rep.LiveNARs, g.rep.LiveChunks = ms.NarInfos, ms.NarBytes, ms.NARs, live.chunks
	g.rep.FreedBytes += ms.ExcludedBytes
	g.names = ms.Names
	return nil
}

// Freed estimates the bytes that forgetting the store paths in drop (by
// hash) and then collecting would free, whatever the objects' ages. It
// changes nothing.
func Freed(ctx context.Context, rp *repo.Repo, drop map[string]bool, tempDir string) (int64, error) {
	rep, err := Collect(ctx, rp, Options{DryRun: true, Grace: -1, TempDir: tempDir,
		Exclude: func(h string) bool { return drop[h] }})
	if err != nil {
		return 0, err
	}
	if rep.Pending != "" {
		return 0, fmt.Errorf("gc: cannot estimate: %s", rep.Pending)
	}
	return rep.FreedBytes, nil
}
