package main

import (
	"fmt"
	"io"
	"os"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/internal/metrics"
	"github.com/nardedup/nardedup/internal/progress"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/urfave/cli/v2"
)

func gcCommand() *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "delete the data no narinfo needs any more, and repack mostly dead packs",
		Description: `gc marks everything the stored narinfos reach (manifests, chunks), condemns
unreferenced manifests and packs without a live chunk, and copies the live
chunks of packs below --repack-below into new packs. It deletes the condemned
objects once every running ingest has seen the list (each ingest announces
itself under sessions/ and reloads the list every 30s), waiting up to --wait;
if an ingest has not caught up by then, the list stays and the next gc run
finishes it. Serving and ingesting may go on meanwhile. Objects younger than
--grace are never condemned. A gc killed at any moment loses nothing: run it
again. A pack to repack that is damaged where live chunks lie is left in
place and printed as DAMAGED with the store paths that reach its damaged
frames; gc does the rest, then exits non-zero.

With --metrics-listen ADDR, the current phase, the time spent in each, and
the backend's requests are served as Prometheus metrics at
http://ADDR/metrics while it runs.`,
		Flags: repoFlags(append(observeFlags(),
			&cli.DurationFlag{Name: "grace", Usage: "never condemn packs and manifests younger than this", Value: gc.DefaultGrace, EnvVars: []string{"NARDEDUP_GC_GRACE"}},
			&cli.Float64Flag{Name: "repack-below", Usage: "repack packs whose live fraction is below this (0 to 1; negative: never)", Value: gc.DefaultRepackBelow, EnvVars: []string{"NARDEDUP_GC_REPACK_BELOW"}},
			&cli.DurationFlag{Name: "wait", Usage: "how long to wait for running ingests to load the condemned list", Value: gc.DefaultWait, EnvVars: []string{"NARDEDUP_GC_WAIT"}},
			&cli.BoolFlag{Name: "dry-run", Usage: "report what would be condemned; change nothing", EnvVars: []string{"NARDEDUP_GC_DRY_RUN"}},
			&cli.StringFlag{Name: "temp-dir", Usage: "directory for the live set (about 230 bytes per live chunk)", EnvVars: []string{"NARDEDUP_GC_TEMP_DIR"}},
			&cli.IntFlag{Name: "repack-zstd-level", Usage: "zstd level of repacked frames: 1-4 of the repository's encoder (its config's \"encoder\": libzstd, or klauspost/compress when absent), 5-22 libzstd's (cgo) (0: the repository's)", EnvVars: []string{"NARDEDUP_GC_REPACK_ZSTD_LEVEL"}},
			&cli.IntFlag{Name: "repack-group-size", Usage: "bytes of chunks compressed together in repacked frames (0: the repository's)", EnvVars: []string{"NARDEDUP_GC_REPACK_GROUP_SIZE"}},
			&cli.BoolFlag{Name: "recompress", Usage: "also copy the live chunks of cold packs that ingest or a repack wrote into larger frames compressed harder (--cold-codec; needs a build with cgo)", EnvVars: []string{"NARDEDUP_GC_RECOMPRESS"}},
			&cli.DurationFlag{Name: "recompress-min-age", Usage: "recompress only packs older than this (and than --grace)", EnvVars: []string{"NARDEDUP_GC_RECOMPRESS_MIN_AGE"}},
			&cli.IntFlag{Name: "recompress-level", Usage: "zstd level of recompressed frames: 1-4 klauspost/compress's, 5-22 libzstd's", Value: gc.DefaultRecompressLevel, EnvVars: []string{"NARDEDUP_GC_RECOMPRESS_LEVEL"}},
			&cli.IntFlag{Name: "recompress-group-size", Usage: "bytes of chunks compressed together in recompressed frames (at most 64 MiB; a read decompresses a whole frame)", Value: gc.DefaultRecompressGroupSize, EnvVars: []string{"NARDEDUP_GC_RECOMPRESS_GROUP_SIZE"}},
			&cli.IntFlag{Name: "recompress-window-log", Usage: "log2 of how far back recompressed frames refer, 10-26 (0: the whole group)", EnvVars: []string{"NARDEDUP_GC_RECOMPRESS_WINDOW_LOG"}},
			&cli.BoolFlag{Name: "recompress-stored-order", Usage: "recompress frames in the order their packs were stored, not by store path name", EnvVars: []string{"NARDEDUP_GC_RECOMPRESS_STORED_ORDER"}},
			&cli.StringFlag{Name: "cold-codec", Usage: "codec of recompressed frames: xz (LZMA2, smaller, slower to read; the first use makes the repository unreadable by releases before xz frames) or zstd (default: xz where an earlier run chose it, else zstd)", EnvVars: []string{"NARDEDUP_GC_COLD_CODEC"}},
			&cli.BoolFlag{Name: "cold-xz-x86", Usage: "put xz frames through the x86 BCJ filter first (smaller for x86 machine code)", Value: true, EnvVars: []string{"NARDEDUP_GC_COLD_XZ_X86"}},
			&cli.BoolFlag{Name: "cold-xz-gzip", Usage: "in xz frames, replace the gzip streams that GNU gzip's encoder remakes exactly by their decompressed bytes (much smaller; reading remakes them; the first use makes the repository unreadable by releases before such frames)", Value: true, EnvVars: []string{"NARDEDUP_GC_COLD_XZ_GZIP"}},
			&cli.IntFlag{Name: "recompress-jobs", Usage: "frames compressed at a time", Value: 1, EnvVars: []string{"NARDEDUP_GC_RECOMPRESS_JOBS"}},
			quietFlag("NARDEDUP_GC_QUIET"),
		)...),
		Action: func(c *cli.Context) error {
			if err := checkGCFlags(c); err != nil {
				return err
			}
			log, reg, err := observe(c)
			if err != nil {
				return fmt.Errorf("gc: %w", err)
			}
			be, err := openMetered(c, reg)
			if err != nil {
				return err
			}
			if c.Bool("recompress") && c.String("cold-codec") == chunkstore.CodecXZ && !c.Bool("dry-run") {
				changed, err := repo.EnableXZFrames(c.Context, be, c.Bool("cold-xz-gzip"))
				if err != nil {
					return fmt.Errorf("gc: allow xz frames: %w", err)
				}
				if changed {
					log.Info("the repository now allows xz frames (with gzip streams expanded if --cold-xz-gzip): releases before them cannot open it")
				}
			}
			rp, err := repo.Open(c.Context, be, repo.Options{IndexCache: c.String("index-cache"), Role: "gc"})
			if err != nil {
				return err
			}
			defer rp.Close()
			phases, err := metrics.NewGC(reg)
			if err != nil {
				return fmt.Errorf("gc: %w", err)
			}
			stop, err := startMetrics(c, reg, log)
			if err != nil {
				return fmt.Errorf("gc: %w", err)
			}
			defer stop()
			opts := gc.Options{
				Grace: c.Duration("grace"), RepackBelow: c.Float64("repack-below"), Wait: c.Duration("wait"),
				DryRun: c.Bool("dry-run"), TempDir: c.String("temp-dir"), Phase: phases.Phase,
				Copy: chunkstore.CopyOptions{ZstdLevel: c.Int("repack-zstd-level"), GroupSize: c.Int("repack-group-size")},
				Recompress: gc.RecompressOptions{
					Enabled: c.Bool("recompress"), MinAge: c.Duration("recompress-min-age"), StoredOrder: c.Bool("recompress-stored-order"),
					Copy: chunkstore.CopyOptions{ZstdLevel: c.Int("recompress-level"), GroupSize: c.Int("recompress-group-size"),
						WindowLog: c.Int("recompress-window-log"), Workers: c.Int("recompress-jobs"),
						Codec: c.String("cold-codec"), XZX86: c.Bool("cold-xz-x86"),
						XZGzip: c.Bool("cold-xz-gzip")},
				},
			}
			if opts.Grace == 0 {
				opts.Grace = -1 // 0 means none, not the default
			}
			if opts.Wait == 0 {
				opts.Wait = -1
			}
			if opts.RepackBelow == 0 {
				opts.RepackBelow = -1
			}
			pr := startProgress(c, "gc")
			if pr != nil {
				opts.Logf, opts.Progress = pr.Printf, func(n int, b int64) { pr.Update(progress.Counts{Done: n, Bytes: b}) }
			}
			rep, err := gc.Collect(c.Context, rp, opts)
			pr.Close()
			phases.Done(rep)
			if rep != nil {
				printGCReport(os.Stdout, rep, opts.DryRun)
			}
			return err
		},
	}
}

// checkGCFlags refuses the values of gc's flags that mean nothing, before
// anything is opened.
func checkGCFlags(c *cli.Context) error {
	for _, name := range []string{"grace", "wait", "recompress-min-age"} {
		if d := c.Duration(name); d < 0 {
			return fmt.Errorf("gc: --%s %s: want a duration of 0 or more", name, d)
		}
	}
	if codec := c.String("cold-codec"); codec != "" && codec != chunkstore.CodecXZ && codec != chunkstore.CodecZstd {
		return fmt.Errorf("gc: --cold-codec %q: want %s or %s", codec, chunkstore.CodecXZ, chunkstore.CodecZstd)
	}
	// Negative means never; NaN compares false both ways.
	if f := c.Float64("repack-below"); !(f <= 1) {
		return fmt.Errorf("gc: --repack-below %v: want a live fraction from 0 to 1 (negative: never repack)", f)
	}
	return nil
}

func printGCReport(w io.Writer, r *gc.Report, dry bool) {
	fmt.Fprintf(w, "%-22s %14s %14s\n", "", "before", "after")
	row := func(name string, a, b string) { fmt.Fprintf(w, "%-22s %14s %14s\n", name, a, b) }
	row("repository", mib(r.Before.Bytes), mib(r.After.Bytes))
	row("chunks", fmt.Sprint(r.Before.Chunks), fmt.Sprint(r.After.Chunks))
	for _, t := range []layout.Type{layout.Pack, layout.Index, layout.Forward, layout.Manifest, layout.NarInfo, layout.Tombstone} {
		k := t.String()
		if r.Before.Objects[k] == 0 && r.After.Objects[k] == 0 {
			continue
		}
		row(k, fmt.Sprintf("%d (%s)", r.Before.Objects[k], mib(r.Before.KindBytes[k])),
			fmt.Sprintf("%d (%s)", r.After.Objects[k], mib(r.After.KindBytes[k])))
	}
	fmt.Fprintf(w, "live: %d store paths, %d NARs (%s of NAR), %d chunks; dedup ratio %s before, %s after\n",
		r.LiveNarInfos, r.LiveNARs, mib(r.LiveNarBytes), r.LiveChunks,
		ratio(r.LiveNarBytes, r.Before.Bytes), ratio(r.LiveNarBytes, r.After.Bytes))
	verb := "condemned"
	if dry {
		verb = "would condemn"
	}
	fmt.Fprintf(w, "%s: %d packs (%s, %d of them repacked), %d manifests, freeing about %s; %d packs younger than the grace period left alone\n",
		verb, r.CondemnedPacks, mib(r.CondemnedPackBytes), r.RepackedPacks, r.CondemnedManifests, mib(r.FreedBytes), r.FreshPacksSkipped)
	if r.Copied.Chunks > 0 {
		fmt.Fprintf(w, "repacked: %d live chunks, %s, into %s of new packs\n", r.Copied.Chunks, mib(r.Copied.Bytes), mib(r.Copied.StoredBytes))
	}
	if r.RecompressedPacks > 0 {
		fmt.Fprintf(w, "%s: %d cold packs (%s of live chunks)", map[bool]string{true: "would recompress", false: "recompressed"}[dry],
			r.RecompressedPacks, mib(r.RecompressLiveBytes))
		if r.Recompressed.Chunks > 0 {
			fmt.Fprintf(w, " into %s of new packs in %d frames", mib(r.Recompressed.StoredBytes), r.Recompressed.Frames)
		}
		fmt.Fprintln(w)
	}
	if !dry {
		fmt.Fprintf(w, "deleted: %d packs (%s), %d manifests; kept %d packs and %d manifests that became live again\n",
			r.DeletedPacks, mib(r.DeletedPackBytes), r.DeletedManifests, r.RevivedPacks, r.RevivedManifests)
		fmt.Fprintf(w, "deleted: %d forward records (%s; kept %d still needed), %d names objects, %d upload records (%s)\n",
			r.DeletedForwardRecords, mib(r.DeletedForwardBytes), r.KeptForwardRecords, r.DeletedNames,
			r.DeletedUploads, mib(r.DeletedUploadBytes))
	}
	if r.FinishedEarlier {
		fmt.Fprintln(w, "finished the sweep of an earlier run")
	}
	if r.Pending != "" {
		fmt.Fprintf(w, "left for the next run: %s\n", r.Pending)
	}
	for _, d := range r.Damaged {
		fmt.Fprintf(w, "DAMAGED %s\n", d)
	}
}
