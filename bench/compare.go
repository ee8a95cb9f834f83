package bench

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/nardedup/nardedup/bench/internal/units"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/source"
)

// Compare is the storage of the same NARs in several forms.
type Compare struct {
	ZstdMethod    string  `json:"zstd_method"`
	NoStripMethod string  `json:"nostrip_method"`
	Scopes        []Scope `json:"scopes"`
}

// Scope is one set of NARs: generation 1, or the whole corpus.
type Scope struct {
	Name       string `json:"name"`
	Paths      int    `json:"paths"`       // distinct store paths
	NarBytes   int64  `json:"nar_bytes"`   // their NarSize
	UniqueNARs int    `json:"unique_nars"` // distinct NarHashes
	UniqueNar  int64  `json:"unique_nar_bytes"`
	XZBytes    int64  `json:"xz_bytes"`   // distinct files' FileSize
	ZstdBest   int64  `json:"zstd_bytes"` // each distinct NAR compressed on its own
	NoStrip    int64  `json:"nostrip_bytes"`
	Strip      int64  `json:"strip_bytes"` // nardedup, default config
}

const zstdMethod = "each distinct NAR compressed on its own by klauspost/compress zstd, SpeedBestCompression (about zstd -11), one frame"

const noStripMethod = "emulated by the benchmark: every distinct NAR, uncut, written through the default chunker and zstd groups " +
	"of chunkstore (packs + index objects + config), its recipe as a chunk stream, a manifest object of the recipe's chunk refs, " +
	"and the narinfos. narstore has no strip mode \"none\" (pathstrip cuts the hash or hash-name), so nardedup itself cannot run without stripping."

// runCompare fills r.Compare. Generation 1 is one scope; with more than
// one generation, all of them together are a second.
func (r *runner) runCompare(ctx context.Context) error {
	rp, err := r.scratchRepo(ctx, "nostrip", repo.DefaultConfig())
	if err != nil {
		return err
	}
	defer rp.remove()
	defer rp.close()
	c := &Compare{ZstdMethod: zstdMethod, NoStripMethod: noStripMethod}
	cmp := &comparer{rp: rp, jobs: r.opts.Jobs, paths: map[string]bool{}, nars: map[string]bool{}, urls: map[string]bool{}}
	sc := Scope{Name: "generation 1"}
	gens := r.opts.Generations
	for i, g := range gens {
		if i == 1 {
			sc.Name = fmt.Sprintf("whole corpus (%d generations)", len(gens))
		}
		if err := cmp.add(ctx, g, &sc); err != nil {
			return err
		}
		if i == 0 || i == len(gens)-1 {
			if _, sc.NoStrip, err = rp.objects(ctx); err != nil {
				return err
			}
			sc.Strip = r.rep.Generations[i].Stored
			c.Scopes = append(c.Scopes, sc)
			r.logf("compare %s: zstd %s, no strip %s", sc.Name, units.MiB(sc.ZstdBest), units.MiB(sc.NoStrip))
		}
	}
	r.rep.Compare = c
	return nil
}

// comparer stores NARs without stripping and compresses them with zstd.
type comparer struct {
	rp    *scratchRepo
	jobs  int
	paths map[string]bool // store path hashes seen
	nars  map[string]bool // NarHashes seen
	urls  map[string]bool // files seen
}

// add processes the NARs of g not seen before and adds them to sc.
func (c *comparer) add(ctx context.Context, g Generation, sc *Scope) error {
	es, err := scan(ctx, g.Source, c.rp.cfg.NARs.StoreDir)
	if err != nil {
		return err
	}
	var todo []entry
	for _, e := range es {
		if !c.paths[e.Hash] {
			c.paths[e.Hash] = true
			sc.Paths++
			sc.NarBytes += e.NarSize
			if err := c.rp.be.Put(ctx, layout.NarInfoOf(e.Hash).Key(), bytes.NewReader(e.Text), int64(len(e.Text))); err != nil {
				return fmt.Errorf("bench: store narinfo: %w", err)
			}
		}
		if !c.urls[e.URL] {
			c.urls[e.URL] = true
			sc.XZBytes += e.FileSize
		}
		if !c.nars[e.NarHash] {
			c.nars[e.NarHash] = true
			sc.UniqueNARs++
			sc.UniqueNar += e.NarSize
			todo = append(todo, e)
		}
	}
	zsize, err := c.parallel(ctx, g.Source, todo)
	sc.ZstdBest += zsize
	if err != nil {
		return err
	}
	if err := c.rp.cs.Flush(ctx); err != nil {
		return fmt.Errorf("bench: flush: %w", err)
	}
	return nil
}

// parallel runs one on c.jobs workers and returns the summed zstd size.
func (c *comparer) parallel(ctx context.Context, src source.Source, todo []entry) (int64, error) {
	var (
		mu    sync.Mutex
		total int64
		first error
		wg    sync.WaitGroup
	)
	work := make(chan entry)
	for i := 0; i < c.jobs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				n, err := c.one(ctx, src, e)
				mu.Lock()
				total += n
				if err != nil && first == nil {
					first = fmt.Errorf("bench: NAR of %s: %w", e.Hash, err)
				}
				mu.Unlock()
			}
		}()
	}
	for _, e := range todo {
		work <- e
	}
	close(work)
	wg.Wait()
	return total, first
}
