package repo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
)

// UpgradeResult says what Upgrade did.
type UpgradeResult struct {
	From, To  int // format versions
	Manifests int // manifests read
	Rewritten int // of them, rewritten with their chunks' locations
	// Unlocated counts the manifests naming a chunk the repository lacks:
	// left as they are, and the format is not moved while there are any.
	Unlocated int
	NarInfos  int // narinfos read, with Names
	Names     int // of them, whose NAR got its names object
}

// upgradeWorkers is how many manifests Upgrade rewrites at once.
const upgradeWorkers = 8

// Upgrade brings the repository on be to FormatVersion in place.
//
// From format 1: every manifest without chunk locations is rewritten
// with them (found in the local index, which Open brings up to date), then
// the config moves to format 2, then the manifests are scanned once more
// for any that a writer of an older release stored meanwhile. Each
// rewrite replaces one manifest by one that rebuilds the same NAR, so
// servers and ingests of this release may run throughout, and a run that
// is stopped at any point is resumed by running it again: manifests that
// have their locations are skipped. Processes of a release before format
// 2 must be stopped first: they cannot read the rewritten manifests, and
// the new config keeps them from starting again.
func Upgrade(ctx context.Context, be backend.Backend, opts Options, logf func(string, ...any)) (UpgradeResult, error) {
	cfg, err := LoadConfig(ctx, be)
	if err != nil {
		return UpgradeResult{}, err
	}
	res := UpgradeResult{From: cfg.Version, To: FormatVersion}
	opts.ReadOnly = false
	rp, err := Open(ctx, be, opts)
	if err != nil {
		return res, err
	}
	defer rp.Close()
	if err := rp.addLocations(ctx, &res, logf); err != nil {
		return res, err
	}
	if res.Unlocated > 0 {
		return res, fmt.Errorf("repo: upgrade: %d manifests name chunks the repository lacks (see above; nardedup verify names their store paths, nardedup forget drops them); format left at %d",
			res.Unlocated, cfg.Version)
	}
	if cfg.Version == FormatVersion {
		return res, nil
	}
	cfg.Version = FormatVersion
	if err := writeConfig(ctx, be, cfg); err != nil {
		return res, err
	}
	logf("repository format %d -> %d; checking for manifests written meanwhile", res.From, res.To)
	return res, rp.addLocations(ctx, &res, logf)
}

// AddNames writes the names object (narstore.Store.AddName) of every
// stored narinfo's NAR that lacks one: NARs stored by a release that wrote
// names objects only for ingests with names dedup give a later such ingest
// no candidates until it ran. It reads every narinfo and asks for one
// names object each (two requests a store path, three where it writes),
// so it is run once, by hand, before a repository moves to names dedup.
// Safe beside servers and ingests; stopped, it resumes when run again.
//
// Once a pass has read every narinfo without an error, it marks the
// repository NamesComplete, and ingest then dedups by names by default; a
// pass stopped or failed leaves the marker unwritten. A NAR whose narinfo
// a writer of this release stores during the pass has its names object
// already; a writer of an older release, running meanwhile or later, may
// leave some NARs without (see NamesComplete), and running AddNames again
// records them.
func AddNames(ctx context.Context, be backend.Backend, opts Options, logf func(string, ...any)) (UpgradeResult, error) {
	rp, err := Open(ctx, be, opts)
	if err != nil {
		return UpgradeResult{}, err
	}
	defer rp.Close()
	v := rp.Config().Version
	res := UpgradeResult{From: v, To: v}
	if err := rp.addNames(ctx, &res, logf); err != nil {
		return res, err
	}
	return res, markNamesComplete(ctx, be)
}

// addLocations rewrites every manifest without locations with them.
func (r *Repo) addLocations(ctx context.Context, res *UpgradeResult, logf func(string, ...any)) error {
	var manifests, changed, unlocated atomic.Int64
	list := func(fn func(string) error) error {
		return layout.List(ctx, r.be, layout.Manifest, func(name string, _ backend.Info) error { return fn(name) })
	}
	err := parallel(ctx, list, func(ctx context.Context, name string) error {
		h, err := narfmt.ParseHash(name)
		if err != nil {
			logf("skipping %s: %v", layout.Key(layout.Manifest, name), err)
			return nil
		}
		did, err := r.nars.AddLocations(ctx, h)
		switch {
		case errors.Is(err, narstore.ErrNotFound): // deleted since listed
			return nil
		case errors.Is(err, chunkstore.ErrNotFound):
			unlocated.Add(1)
			logf("NAR sha256:%s: %v", h.String(), err)
			return nil
		case err != nil:
			return err
		}
		if n := manifests.Add(1); n%10000 == 0 {
			logf("%d manifests read, %d rewritten", n, changed.Load())
		}
		if did {
			changed.Add(1)
		}
		return nil
	})
	res.Manifests += int(manifests.Load())
	res.Rewritten += int(changed.Load())
	res.Unlocated += int(unlocated.Load())
	if err != nil {
		return fmt.Errorf("repo: upgrade: %w", err)
	}
	return nil
}

// addNames writes the names object of every stored narinfo's NAR that
// lacks one (narstore.Store.AddName).
func (r *Repo) addNames(ctx context.Context, res *UpgradeResult, logf func(string, ...any)) error {
	var read, added atomic.Int64
	err := parallel(ctx, func(fn func(string) error) error { return r.nars.ListNarInfos(ctx, fn) },
		func(ctx context.Context, hash string) error {
			did, err := r.nars.AddName(ctx, hash)
			switch {
			case errors.Is(err, narstore.ErrNotFound): // forgotten since listed
				return nil
			case err != nil:
				return err
			}
			if n := read.Add(1); n%10000 == 0 {
				logf("%d narinfos read, %d names objects written", n, added.Load())
			}
			if did {
				added.Add(1)
			}
			return nil
		})
	res.NarInfos += int(read.Load())
	res.Names += int(added.Load())
	if err != nil {
		return fmt.Errorf("repo: upgrade: names: %w", err)
	}
	return nil
}

// parallel calls do, from upgradeWorkers goroutines, with every name that
// list passes to its function, and returns the first error of either; the
// first error of do cancels the rest.
func parallel(ctx context.Context, list func(func(string) error) error, do func(context.Context, string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	names := make(chan string)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range upgradeWorkers {
		wg.Go(func() {
			for name := range names {
				if err := do(ctx, name); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		})
	}
	err := list(func(name string) error {
		select {
		case names <- name:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(names)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return err
}
