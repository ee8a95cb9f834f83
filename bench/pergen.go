package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/bench/internal/units"
	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/repo"
)

// GenRow is what one generation added to the repository.
type GenRow struct {
	Name     string `json:"name"`
	Paths    int    `json:"paths"`
	NarBytes int64  `json:"nar_bytes"` // sum of NarSize over the generation's narinfos
	XZBytes  int64  `json:"xz_bytes"`  // sum of FileSize over them
	NewXZ    int64  `json:"new_xz_bytes"`
	// NewXZ counts only files (by URL) no earlier generation had: what the
	// generation adds to a cumulative binary cache.
	NARsRead    int              `json:"nars_read"` // NARs fetched and stored
	NarRead     int64            `json:"nar_read_bytes"`
	Linked      int              `json:"linked"`  // narinfo of an already stored NAR
	Skipped     int              `json:"skipped"` // store path already in the repository
	NewChunks   int              `json:"new_chunks"`
	Added       int64            `json:"stored_added"` // repository bytes after minus before
	Stored      int64            `json:"stored_total"`
	CumXZ       int64            `json:"cum_xz_bytes"` // distinct files of generations 1..this
	Objects     map[string]int64 `json:"objects"`      // repository bytes by kind after it
	Seconds     float64          `json:"seconds"`
	CPU         float64          `json:"cpu_seconds"` // user+system, xz children included
	MBps        float64          `json:"mb_per_s"`    // NarRead / Seconds
	PeakRSS     int64            `json:"peak_rss"`
	PeakRSSOwn  bool             `json:"peak_rss_own"` // peak was reset before this generation
	StatsStored int64            `json:"ingest_stored"`
	// StatsStored is ingest.Stats.StoredBytes: packs and manifests as the
	// ingest counted them, without index objects.
}

// Totals describes the repository after every generation.
type Totals struct {
	Config     RepoConfig       `json:"config"`
	Paths      int              `json:"paths"`     // distinct store paths
	NarBytes   int64            `json:"nar_bytes"` // their NarSize
	XZBytes    int64            `json:"xz_bytes"`  // distinct files' FileSize
	UniqueNARs int              `json:"unique_nars"`
	Stored     int64            `json:"stored"`
	Objects    map[string]int64 `json:"objects"`
	// ObjectCount counts the repository's objects (0 in reports from
	// before it was measured).
	ObjectCount int64 `json:"object_count,omitempty"`
	IndexFile   int64 `json:"index_file"` // local bbolt index, not in Stored
}

// runGenerations ingests every generation, in order, into one repository
// with the default configuration.
func (r *runner) runGenerations(ctx context.Context) error {
	rp, err := r.scratchRepo(ctx, "generations", repo.DefaultConfig())
	if err != nil {
		return err
	}
	defer rp.remove()
	r.rep.Totals.Config = repoConfig(rp.cfg)
	seenURL := make(map[string]bool)
	var before, cumXZ int64
	var snaps []struct{ dir, scope string }
	gens := r.opts.Generations
	for i, g := range gens {
		row, err := ingestGeneration(ctx, rp, g, r.opts.Jobs, seenURL)
		if err != nil {
			rp.close()
			return err
		}
		row.Added, before = row.Stored-before, row.Stored
		cumXZ += row.NewXZ
		row.CumXZ = cumXZ
		r.rep.Generations = append(r.rep.Generations, *row)
		r.logf("%s: %d paths, %s NAR, %s nar.xz, stored +%s in %.1fs", g.Name, row.Paths,
			units.MiB(row.NarBytes), units.MiB(row.XZBytes), units.MiB(row.Added), row.Seconds)
		// The comparison's scopes: generation 1 and the whole corpus. The
		// recompressions run after the last generation, so that the memory
		// libzstd leaves to the C allocator does not count as the next
		// generation's peak RSS.
		if !r.opts.SkipCompare && !r.opts.SkipRecompress && (i == 0 || i == len(gens)-1) {
			dir, err := r.snapshot(rp, g.Name)
			if err != nil {
				rp.close()
				return err
			}
			snaps = append(snaps, struct{ dir, scope string }{dir, g.Name})
		}
	}
	if err := r.rep.collectTotals(ctx, rp); err != nil {
		for _, sn := range snaps {
			os.RemoveAll(sn.dir)
		}
		return err
	}
	for i, sn := range snaps {
		// The xz copy first: recompressCopy deletes the snapshot.
		xzDir, err := r.scratch("recompress-xz-" + sn.scope)
		if err == nil {
			err = copyTree(filepath.Join(sn.dir, "repo"), filepath.Join(xzDir, "repo"))
		}
		var rc, rcXZ Recompressed
		if err == nil {
			rcXZ, err = r.recompressCopy(ctx, xzDir, sn.scope, chunkstore.CodecXZ)
		}
		if err == nil {
			rc, err = r.recompressCopy(ctx, sn.dir, sn.scope, chunkstore.CodecZstd)
		}
		if err != nil {
			os.RemoveAll(xzDir)
			for _, rest := range snaps[i:] {
				os.RemoveAll(rest.dir)
			}
			return err
		}
		r.rep.Recompressed = append(r.rep.Recompressed, rc)
		r.rep.RecompressedXZ = append(r.rep.RecompressedXZ, rcXZ)
	}
	return nil
}

// ingestGeneration ingests one generation and measures it.
func ingestGeneration(ctx context.Context, rp *scratchRepo, g Generation, jobs int, seenURL map[string]bool) (*GenRow, error) {
	es, err := scan(ctx, g.Source, rp.cfg.NARs.StoreDir)
	if err != nil {
		return nil, err
	}
	s := sumOf(es)
	row := &GenRow{Name: g.Name, Paths: s.Paths, NarBytes: s.NarBytes, XZBytes: s.XZBytes}
	for _, e := range es {
		if !seenURL[e.URL] {
			seenURL[e.URL] = true
			row.NewXZ += e.FileSize
		}
	}
	row.PeakRSSOwn = resetPeakRSS()
	start, cpu := time.Now(), cpuSeconds()
	st, err := ingest.Run(ctx, g.Source, rp.rp, ingest.Options{Jobs: jobs})
	row.Seconds, row.CPU = time.Since(start).Seconds(), cpuSeconds()-cpu
	row.PeakRSS = peakRSS()
	if err != nil {
		return nil, fmt.Errorf("bench: ingest %s: %w (%v)", g.Name, err, st.Failures)
	}
	row.NARsRead, row.NarRead, row.Linked, row.Skipped = st.NARs, st.NarBytes, st.Linked, st.Skipped
	row.NewChunks, row.StatsStored = st.NewChunks, st.StoredBytes
	if row.Seconds > 0 {
		row.MBps = float64(row.NarRead) / 1e6 / row.Seconds
	}
	if row.Objects, row.Stored, err = rp.objects(ctx); err != nil {
		return nil, err
	}
	return row, nil
}

// collectTotals reads the final repository with admin.Summarize and closes it.
func (r *Report) collectTotals(ctx context.Context, rp *scratchRepo) error {
	as, err := admin.Summarize(ctx, rp.rp)
	if err != nil {
		rp.close()
		return fmt.Errorf("bench: collect repository stats: %w", err)
	}
	t := &r.Totals
	t.Paths, t.NarBytes, t.UniqueNARs, t.Stored = as.NarInfos, as.NarBytes, as.UniqueNARs, as.StoredBytes
	t.Objects = make(map[string]int64)
	t.ObjectCount = as.Measured().StoredObjects
	for k, o := range as.Objects {
		t.Objects[k] = o.Bytes
	}
	if n := len(r.Generations); n > 0 {
		t.XZBytes = r.Generations[n-1].CumXZ
	}
	t.IndexFile, err = rp.close()
	return err
}
