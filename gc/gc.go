package gc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/narstore"
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
	FinishedEarlier   bool   // this run finished an earlier run's list
	Pending           string // why a condemned list is left for a later run
	FreshPacksSkipped int    // younger than the grace period
	StaleSessions     int    // announcements of dead writers removed
	UnindexedPacks    int    // packs without an index object, condemned
	// FreedBytes estimates what the condemned objects free: dead packs
	// and manifests whole, repacked packs in proportion to their dead
	// chunk bytes (and narinfos that Exclude drops).
	FreedBytes int64
}

// Collect runs one garbage collection over the repository (see the package
// documentation).
func Collect(ctx context.Context, st *narstore.Store, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	g := &collector{st: st, cs: st.Chunks(), be: st.Chunks().Backend(), opts: opts, rep: &Report{}}
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
	// names are the live store paths' names and NARs, from the mark, for
	// recompression's order.
	names []narName
}

func (g *collector) run(ctx context.Context) (rep *Report, err error) {
	if g.rep.Before, err = g.usage(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if rep != nil {
			if u, uerr := g.usage(ctx); uerr == nil {
				rep.After = u
			} else if err == nil {
				err = uerr
			}
		}
	}()
	g.lc = lease.NewCollector(g.be, nil)
	if !g.opts.DryRun {
		if g.ss, err = g.cs.StartSession(ctx, g.opts.Session); err != nil {
			return nil, err
		}
		defer g.ss.Close(context.WithoutCancel(ctx))
		g.lc = lease.NewCollector(g.be, g.ss)
		if err := g.lc.Alone(ctx); err != nil {
			return nil, err
		}
	}
	if old, err := lease.LoadCondemned(ctx, g.be); err != nil {
		return nil, err
	} else if old != nil {
		if g.opts.DryRun {
			g.rep.Pending = fmt.Sprintf("an earlier collection's list %s awaits its sweep", old.ID)
			return g.rep, nil
		}
		g.opts.Logf("finishing the sweep of an earlier collection (%s)", old.ID)
		g.rep.FinishedEarlier = true
		done, err := g.sweep(ctx, old, nil, time.Time{})
		if err != nil || !done {
			return g.rep, err
		}
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
	g.opts.Logf("marking")
	if g.opts.Exclude != nil && !g.opts.DryRun {
		return g.rep, errors.New("gc: Exclude needs DryRun")
	}
	ms, err := mark(ctx, g.st, live, markOptions{workers: g.opts.Workers, exclude: g.opts.Exclude,
		names: g.opts.Recompress.Enabled && !g.opts.Recompress.StoredOrder})
	if err != nil {
		return g.rep, err
	}
	g.rep.LiveNarInfos, g.rep.LiveNarBytes, g.rep.LiveNARs, g.rep.LiveChunks = ms.NarInfos, ms.NarBytes, ms.NARs, live.chunks
	g.rep.FreedBytes += ms.ExcludedBytes
	g.names = ms.Names
	cond, err := g.condemn(ctx, live, start)
	if err != nil || cond == nil || g.opts.DryRun {
		return g.rep, err
	}
	_, err = g.sweep(ctx, cond, live, start.Add(-time.Minute))
	return g.rep, err
}

// condemn finds the dead, repacks the mostly dead and writes the list. It
// returns nil if there is nothing to condemn.
func (g *collector) condemn(ctx context.Context, live *liveSet, now time.Time) (*lease.Condemned, error) {
	cutoff := now.Add(-g.opts.Grace)
	cond := &lease.Condemned{ID: newID()}
	err := g.be.List(ctx, "manifests/", func(fi backend.Info) error {
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
		return nil, fmt.Errorf("gc: list manifests: %w", err)
	}
	g.rep.CondemnedManifests = len(cond.Objects)

	// The packs' ages, by listing them (one entry a pack in memory).
	packMod := make(map[chunkstore.ID]backend.Info)
	err = g.be.List(ctx, "packs/", func(fi backend.Info) error {
		if id, err := chunkstore.ParseID(fi.Key[strings.LastIndexByte(fi.Key, '/')+1:]); err == nil {
			packMod[id] = fi
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gc: list packs: %w", err)
	}
	has, done, err := live.reader()
	if err != nil {
		return nil, err
	}
	defer done()
	var repack []chunkstore.ID
	rc, err := g.newRecompressor(now)
	if err != nil {
		return nil, err
	}
	err = g.cs.Packs(func(id chunkstore.ID) error {
		fi, ok := packMod[id]
		if !ok {
			return nil // indexed but missing: verify reports it
		}
		delete(packMod, id) // what is left is not indexed
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
			repack = append(repack, id)
			g.rep.CondemnedPackBytes += fi.Size
			g.rep.FreedBytes += int64(float64(fi.Size) * float64(total-liveBytes) / float64(total))
		default:
			return rc.consider(id, fi, total, liveBytes)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A pack without an index object (its writer died between the two) is
	// invisible to every reader. Condemn it: the sweep reads its own table
	// and, should it hold a live chunk found nowhere else, writes its index
	// object instead of deleting it.
	for id, fi := range packMod {
		if fi.ModTime.Before(cutoff) {
			cond.Packs = append(cond.Packs, id)
			g.rep.UnindexedPacks++
			g.rep.CondemnedPackBytes += fi.Size
			g.rep.FreedBytes += fi.Size
		}
	}
	recompress := rc.chosen()
	g.rep.RepackedPacks = len(repack)
	g.rep.CondemnedPacks = len(cond.Packs) + len(repack) + len(recompress)
	g.opts.Logf("condemned: %d dead packs, %d packs to repack, %d manifests", len(cond.Packs), len(repack), len(cond.Objects))
	if g.opts.DryRun || (len(cond.Packs) == 0 && len(repack) == 0 && len(recompress) == 0 && len(cond.Objects) == 0) {
		return nil, nil
	}
	if len(repack) > 0 {
		if err := g.repack(ctx, repack, has); err != nil {
			return nil, err
		}
		cond.Packs = append(cond.Packs, repack...)
	}
	if len(recompress) > 0 {
		if err := rc.copy(ctx, recompress, has); err != nil {
			return nil, err
		}
		cond.Packs = append(cond.Packs, recompress...)
	}
	if err := g.lc.Condemn(ctx, cond); err != nil {
		return nil, err
	}
	return cond, nil
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

func (g *collector) repack(ctx context.Context, packs []chunkstore.ID, has func(chunkstore.ID) bool) error {
	c, err := g.cs.NewCopier(g.opts.Copy)
	if err != nil {
		return err
	}
	for _, p := range packs {
		err := c.CopyPack(ctx, p, g.liveIn(p, has))
		if err != nil {
			c.Close(ctx)
			return fmt.Errorf("gc: repack %s: %w", p, err)
		}
	}
	res, err := c.Close(ctx)
	g.rep.Copied = res
	if err != nil {
		return fmt.Errorf("gc: repack: %w", err)
	}
	g.opts.Logf("repacked %d packs: %d chunks, %d bytes into %d compressed", len(packs), res.Chunks, res.Bytes, res.StoredBytes)
	return nil
}

// sweep waits until every writer honours cond, marks what changed since
// (everything, without live) and deletes what is still dead. It reports
// false if it left the list for a later run.
func (g *collector) sweep(ctx context.Context, cond *lease.Condemned, live *liveSet, since time.Time) (bool, error) {
	ok, err := g.lc.Wait(ctx, cond, g.opts.Wait, g.opts.Poll, g.opts.Logf)
	g.rep.Pending, g.rep.StaleSessions = g.lc.Pending, g.lc.StaleSessions
	if err != nil || !ok {
		return false, err
	}
	if live == nil {
		var err error
		if live, err = newLiveSet(g.opts.TempDir); err != nil {
			return false, err
		}
		defer live.close()
		since = time.Time{}
	}
	g.opts.Logf("marking again what changed while waiting")
	if _, err := mark(ctx, g.st, live, markOptions{since: since, workers: g.opts.Workers}); err != nil {
		return false, err
	}
	// Load the packs written meanwhile: a live chunk copied there lets its
	// condemned pack go.
	if err := g.ss.Beat(ctx); err != nil {
		return false, err
	}
	for _, key := range cond.Objects {
		ok, err := live.hasManifest(key)
		if err != nil {
			return false, err
		}
		if ok {
			g.rep.RevivedManifests++
			continue
		}
		if err := g.be.Delete(ctx, key); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return false, fmt.Errorf("gc: delete %s: %w", key, err)
		}
		g.rep.DeletedManifests++
	}
	has, done, err := live.reader()
	if err != nil {
		return false, err
	}
	defer done()
	condemned := make(map[chunkstore.ID]bool, len(cond.Packs))
	for _, p := range cond.Packs {
		condemned[p] = true
	}
	for _, p := range cond.Packs {
		if err := g.sweepPack(ctx, p, has, condemned); err != nil {
			return false, err
		}
	}
	if err := g.lc.Finish(ctx); err != nil {
		return false, err
	}
	return true, g.ss.Beat(ctx)
}

// sweepPack deletes a condemned pack unless it holds a live chunk that no
// pack outside the list holds.
func (g *collector) sweepPack(ctx context.Context, p chunkstore.ID, has func(chunkstore.ID) bool, condemned map[chunkstore.ID]bool) error {
	indexed := true
	var chunks []chunkstore.ID
	err := g.cs.PackChunks(p, func(id chunkstore.ID, _ chunkstore.Location) error {
		chunks = append(chunks, id)
		return nil
	})
	if err != nil {
		return err
	}
	var toc *pack.TOC
	if len(chunks) == 0 {
		// Not indexed here: an earlier sweep deleted its index object, or
		// it never had one. Read its own table, if it still exists.
		indexed = false
		toc, err = g.cs.ReadTOC(ctx, p)
		if errors.Is(err, backend.ErrNotExist) {
			return g.deletePack(ctx, p, 0)
		}
		if err != nil {
			return fmt.Errorf("gc: pack %s: %w", p, err)
		}
		for _, c := range toc.Chunks {
			chunks = append(chunks, c.ID)
		}
	}
	for _, id := range chunks {
		if !has(id) {
			continue
		}
		elsewhere := false
		err := g.cs.Locations(id, func(loc chunkstore.Location) error {
			if !condemned[loc.Pack] {
				elsewhere = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !elsewhere {
			g.rep.RevivedPacks++
			if !indexed { // toc was read above
				if err := backend.PutBytes(ctx, g.be, chunkstore.IndexKey(p), toc.Encode()); err != nil {
					return fmt.Errorf("gc: restore index of pack %s: %w", p, err)
				}
			}
			return nil
		}
	}
	fi, err := g.be.Stat(ctx, chunkstore.PackKey(p))
	size := fi.Size
	if err != nil {
		size = 0
	}
	return g.deletePack(ctx, p, size)
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

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
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

// Freed estimates the bytes that forgetting the store paths in drop (by
// hash) and then collecting would free, whatever the objects' ages. It
// changes nothing.
func Freed(ctx context.Context, st *narstore.Store, drop map[string]bool, tempDir string) (int64, error) {
	rep, err := Collect(ctx, st, Options{DryRun: true, Grace: -1, TempDir: tempDir,
		Exclude: func(h string) bool { return drop[h] }})
	if err != nil {
		return 0, err
	}
	if rep.Pending != "" {
		return 0, fmt.Errorf("gc: cannot estimate: %s", rep.Pending)
	}
	return rep.FreedBytes, nil
}
