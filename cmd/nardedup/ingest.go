package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/decompress"
	"github.com/nardedup/nardedup/internal/metrics"
	"github.com/nardedup/nardedup/internal/progress"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/source"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"
)

func ingestCommand() *cli.Command {
	return &cli.Command{
		Name:      "ingest",
		Usage:     "copy a binary cache into the repository (creating it if needed)",
		ArgsUsage: "SOURCE",
		Description: `SOURCE is a binary cache: a directory or file:///path as written by
'nix copy --to file://…', an s3://BUCKET/PREFIX URL, or an http(s):// URL. An
HTTP cache cannot be listed: give the store paths to ingest with --list.

--list FILE takes the narinfos to ingest from FILE instead of listing the
source: either store paths (/nix/store/<hash>-<name>), hashes or
<hash>.narinfo keys, one a line ('#' comments and blank lines allowed), or
the manifest.json of an S3 Inventory of the source's bucket (CSV format), with
its gzipped CSV data files downloaded below the manifest's directory, keeping
their keys (or at least their file names). The inventory's keys that are
<hash>.narinfo directly under the source's prefix are ingested.

--shard K/N splits the source between N processes, on as many machines,
sharing nothing but the repository: process K (0 to N-1) takes the store paths
whose package name (the store path name up to the first '-' that is not
followed by a letter, as Nix's parseDrvName splits it) has a 32-bit FNV-1a
hash equal to K modulo N, so that a package's versions meet in one process.
Each reads every narinfo and counts the others as "other shard". Create the
repository before starting them.

--dedup index deduplicates against a local index of every chunk in the
repository, kept in --index-cache: it grows with the repository. --dedup names
keeps no such index: before storing a NAR it reads the manifests of the newest
few NARs stored under the same package name, and deduplicates against their
chunks, the NAR's own and a bounded set of the chunks seen lately; memory and
local disk stay flat, for a little more stored (see README, "Scale"). --dedup
auto (the default) takes names on a repository known to record every NAR
under its package name (one created by this release, or after 'nardedup
upgrade --names' completed), index otherwise, and logs which.

Ingest is resumable and idempotent: store paths already in the repository are
skipped. A store path that fails a check is reported by name and nothing of it
is stored; the others go on and the command exits non-zero.

The chunking and compression flags apply when the repository is created and
are recorded in it; later runs use the recorded values.

--follow DURATION keeps going: after a pass it waits DURATION and ingests
what appeared since, until SIGTERM or SIGINT, which stop it once the NARs in
flight are stored (exit 0; a second signal aborts them). It keeps its place in
a cursor in the repository, one per source, list file and shard, so that a
restart reads only what is new: for a directory or S3 bucket the time of the
newest narinfo, with those written within --follow-slack before it; for
--list, the part of the file read (it may only grow; a rewritten file is read
again) or the S3 Inventory manifest last read. An HTTP cache is followed
through a --list file that its writer appends store paths to.

With --metrics-listen ADDR, the run's counters (store paths by result, NAR,
source and stored bytes, new and duplicate chunks) and the backend's requests
are served as Prometheus metrics at http://ADDR/metrics while it runs.`,
		Flags: repoFlags(append(observeFlags(),
			&cli.IntFlag{Name: "jobs", Usage: "NARs processed in parallel", Value: runtime.NumCPU(), EnvVars: []string{"NARDEDUP_JOBS"}},
			&cli.StringFlag{Name: "list", Aliases: []string{"paths"}, Usage: "take the narinfos to ingest from this file: store paths one a line, or an S3 Inventory manifest.json (needed for HTTP sources)", EnvVars: []string{"NARDEDUP_LIST", "NARDEDUP_PATHS"}},
			&cli.StringFlag{Name: "shard", Usage: "K/N: ingest only the store paths whose package name's FNV-1a hash is K modulo N", EnvVars: []string{"NARDEDUP_SHARD"}},
			&cli.StringFlag{Name: "dedup", Usage: "what new chunks are deduplicated against: index (every chunk, local index), names (earlier NARs of the same package name; no local index) or auto (names where the repository records every NAR's name, else index)", Value: "auto", EnvVars: []string{"NARDEDUP_DEDUP"}},
			&cli.IntFlag{Name: "max-consecutive-failures", Usage: "stop after this many store paths in a row failed (-1: never)", Value: ingest.DefaultMaxConsecutiveFailures, EnvVars: []string{"NARDEDUP_MAX_CONSECUTIVE_FAILURES"}},
			&cli.DurationFlag{Name: "flush-interval", Usage: "make ingested NARs durable and visible at least this often", Value: 30 * time.Second, EnvVars: []string{"NARDEDUP_FLUSH_INTERVAL"}},
			&cli.IntFlag{Name: "chunk-avg-bits", Usage: "at creation: average chunk size is 2^N bytes", Value: chunkstore.DefaultConfig().Chunker.AvgBits, EnvVars: []string{"NARDEDUP_CHUNK_AVG_BITS"}},
			&cli.IntFlag{Name: "zstd-level", Usage: "at creation: libzstd level of new frames, 1 (fastest) to 22 (best; 4 is a good trade for ingest, gc --recompress does better later)", Value: chunkstore.DefaultConfig().ZstdLevel, EnvVars: []string{"NARDEDUP_ZSTD_LEVEL"}},
			&cli.IntFlag{Name: "group-size", Usage: "at creation: bytes of new chunks compressed together", Value: chunkstore.DefaultConfig().GroupSize, EnvVars: []string{"NARDEDUP_GROUP_SIZE"}},
			&cli.StringFlag{Name: "strip", Usage: "at creation: what to cut from store paths, hash or hash-name", Value: narstore.DefaultConfig().Strip, EnvVars: []string{"NARDEDUP_STRIP"}},
			&cli.DurationFlag{Name: "follow", Usage: "after a pass, wait this long and ingest what appeared since, until SIGTERM (0: one pass)", EnvVars: []string{"NARDEDUP_FOLLOW"}},
			&cli.DurationFlag{Name: "follow-slack", Usage: "with --follow on a directory or bucket: how long before the newest narinfo seen one may still appear (more than a listing takes, plus clock skew)", Value: ingest.DefaultSlack, EnvVars: []string{"NARDEDUP_FOLLOW_SLACK"}},
			quietFlag("NARDEDUP_INGEST_QUIET"),
		)...),
		Action: runIngest,
	}
}

func runIngest(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("ingest: give exactly one SOURCE")
	}
	var shard ingest.Shard
	if s := c.String("shard"); s != "" {
		var err error
		if shard, err = ingest.ParseShard(s); err != nil {
			return fmt.Errorf("--shard: %w", err)
		}
	}
	log, reg, err := observe(c)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if !slices.Contains(dedupModes, c.String("dedup")) {
		return fmt.Errorf("--dedup %q: want %s", c.String("dedup"), strings.Join(dedupModes, ", "))
	}
	ctx, drain, stopSignals := c.Context, (<-chan struct{})(nil), func() {}
	if c.Duration("follow") > 0 {
		ctx, drain, stopSignals = drainOnSignal(c.Context)
	}
	defer stopSignals()
	var (
		src   source.Source
		total int
	)
	if c.Duration("follow") > 0 {
		src, err = openCache(ctx, c.Args().First()) // the list is read at every pass
	} else {
		src, total, err = openSource(ctx, c.Args().First(), c.String("list"))
	}
	if err != nil {
		return err
	}
	be, err := repo.CreateBackend(ctx, c.String("repo"))
	if err != nil {
		return err
	}
	if be, err = meter(be, reg); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if err := initRepo(c, be); err != nil {
		return err
	}
	chunks := chunkstore.Options{FlushInterval: c.Duration("flush-interval")}
	if chunks.Candidates, err = dedupCandidates(ctx, be, c.String("dedup"), log); err != nil {
		return err
	}
	rp, err := repo.Open(ctx, be, repo.Options{IndexCache: c.String("index-cache"), Role: "ingest", Chunks: chunks})
	if err != nil {
		return err
	}
	defer rp.Close()
	counters, err := metrics.NewIngest(reg)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	stop, err := startMetrics(c, reg, log)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	defer stop()
	part := ""
	if shard != (ingest.Shard{}) {
		part = ", shard " + shard.String()
	}
	fmt.Fprintf(os.Stderr, "ingesting %s into %s (%d jobs%s, xz decoder %s)\n", src, be, c.Int("jobs"), part, decompress.DefaultXZ())
	opts := ingest.Options{
		Jobs: c.Int("jobs"), ProgressEvery: progress.DefaultRedraw,
		MaxConsecutiveFailures: c.Int("max-consecutive-failures"), Shard: shard, Drain: drain,
	}
	if c.Duration("follow") > 0 {
		return follow(ctx, c, src, rp, opts, counters, reg)
	}
	rep := startProgress(c, "ingest")
	opts.Progress = func(s ingest.Stats) { rep.Update(ingestCounts(s, total)); counters.Update(s) }
	stats, err := ingest.Run(ctx, src, rp, opts)
	rep.Close()
	printSummary(os.Stdout, stats)
	return err
}

// follow runs ingest --follow: passes until drained by a signal.
func follow(ctx context.Context, c *cli.Context, src source.Source, rp *repo.Repo, opts ingest.Options,
	counters *metrics.Ingest, reg prometheus.Registerer) error {
	passes, err := metrics.NewFollow(reg)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	spec, list := c.Args().First(), c.String("list")
	if !strings.Contains(spec, "://") {
		spec, _ = filepath.Abs(spec)
	}
	if list != "" {
		list, _ = filepath.Abs(list)
	}
	var total ingest.Stats // of the passes so far
	opts.Progress = func(s ingest.Stats) {
		sum := total
		sum.Add(s)
		counters.Update(sum)
	}
	fopts := ingest.FollowOptions{
		Options: opts, Every: c.Duration("follow"), Slack: c.Duration("follow-slack"),
		Cursor: ingest.CursorID(spec, list, opts.Shard), List: list, Prefix: listPrefix(spec),
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
		Pass: func(p ingest.Pass) {
			passes.Pass(p)
			if p.Stats != nil {
				total.Add(*p.Stats)
				counters.Update(total)
			}
			if !c.Bool("quiet") || p.Err != nil {
				fmt.Fprintln(os.Stderr, passLine(p))
			}
		},
	}
	err = ingest.Follow(ctx, src, rp, fopts)
	printSummary(os.Stdout, &total)
	return err
}

// passLine describes one pass of ingest --follow.
func passLine(p ingest.Pass) string {
	line := fmt.Sprintf("pass %d at %s: %d listed, %d new", p.N, p.Start.Format(time.TimeOnly), p.Listed, p.New)
	if s := p.Stats; s != nil {
		line += fmt.Sprintf(" (%d stored, %d linked, %d present, %d other shard, %d failed)",
			s.Committed, s.Linked, s.Skipped, s.OtherShard, s.Failed)
		if s.Drained {
			line += ", stopped after the NARs in flight"
		}
	}
	line += fmt.Sprintf(", %s", p.Elapsed.Round(time.Millisecond))
	if p.Err != nil {
		line += fmt.Sprintf("; failed, the cursor stays: %v", p.Err)
	}
	return line
}

// drainOnSignal returns a context that SIGINT or SIGTERM do not end, and a
// channel they close: the first signal drains the run (the NARs in flight
// are finished), a second one ends the context. stop undoes it.
func drainOnSignal(parent context.Context) (ctx context.Context, drain <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	ch := make(chan struct{})
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "%s: stopping after the NARs in flight (again to abort them)\n", s)
			close(ch)
		case <-done:
			return
		}
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "%s: aborting\n", s)
			cancel()
		case <-done:
		}
	}()
	return ctx, ch, func() {
		signal.Stop(sig)
		close(done)
		cancel()
	}
}

// openCache opens the binary cache spec names: an s3:// URL on S3 (see
// --repo for its form and credentials), anything else with source.Open.
func openCache(ctx context.Context, spec string) (source.Source, error) {
	if !strings.HasPrefix(spec, "s3://") {
		return source.Open(spec)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	b, err := s3.Open(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	return source.NewS3(b), nil
}

// openSource opens the binary cache spec names, listed from the file list
// if it is not "" (see source.ReadList; an inventory's keys are taken under
// the prefix of an s3:// spec). It returns the number of distinct store
// paths the list names, 0 without one.
func openSource(ctx context.Context, spec, list string) (source.Source, int, error) {
	src, err := openCache(ctx, spec)
	if err != nil || list == "" {
		return src, 0, err
	}
	hashes, err := source.ReadList(list, listPrefix(spec))
	if err != nil {
		return nil, 0, err
	}
	src, err = source.WithHashes(src, hashes)
	return src, len(slices.Compact(slices.Sorted(slices.Values(hashes)))), err
}

// listPrefix returns the key prefix under which an S3 Inventory lists the
// cache spec names: the path of an s3:// URL, "" for anything else.
func listPrefix(spec string) string {
	if u, err := url.Parse(spec); err == nil && u.Scheme == "s3" {
		return u.Path
	}
	return ""
}

// dedupModes are the values of ingest --dedup.
var dedupModes = []string{"auto", "index", "names"}

// dedupCandidates returns the chunkstore.Options.Candidates that ingest
// --dedup mode opens the repository on be with: 0 (the local index) for
// index, ingest.DefaultCandidates for names. auto takes names where the
// repository is marked repo.NamesComplete, the index otherwise, and logs
// its choice on log.
func dedupCandidates(ctx context.Context, be backend.Backend, mode string, log *slog.Logger) (int, error) {
	switch mode {
	case "index":
		return 0, nil
	case "names":
		return ingest.DefaultCandidates, nil
	case "auto":
	default:
		return 0, fmt.Errorf("--dedup %q: want %s", mode, strings.Join(dedupModes, ", "))
	}
	ok, err := repo.NamesComplete(ctx, be)
	if err != nil {
		return 0, err
	}
	if ok {
		log.Info("dedup by package names, without a local index: the repository records every NAR under its name", "dedup", "names")
		return ingest.DefaultCandidates, nil
	}
	log.Info("dedup by the local index: the repository may hold NARs not recorded under their package names; nardedup upgrade --names records them and enables names dedup",
		"dedup", "index")
	return 0, nil
}

// initRepo creates the repository from the flags if it does not exist.
func initRepo(c *cli.Context, be backend.Backend) error {
	if ok, err := repo.Exists(c.Context, be); ok || err != nil {
		return err
	}
	cfg := repo.DefaultConfig()
	cc := &cfg.Chunks
	cc.Chunker.AvgBits = c.Int("chunk-avg-bits")
	cc.Chunker.MinSize = 1 << (cc.Chunker.AvgBits - 2)
	cc.Chunker.MaxSize = 1 << (cc.Chunker.AvgBits + 2)
	cc.ZstdLevel = c.Int("zstd-level")
	cc.GroupSize = c.Int("group-size")
	cfg.NARs.Strip = c.String("strip")
	if _, err := repo.Create(c.Context, be, cfg); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "created repository %s\n", be)
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func ratio(a, b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", float64(a)/float64(b))
}

func printSummary(w io.Writer, s *ingest.Stats) {
	if s == nil {
		return
	}
	// Only what became visible (its narinfo written) counts as stored: a
	// NAR read but not committed, on a full disk say, is among the failed.
	fmt.Fprintf(w, "store paths:   %d listed, %d new NARs, %d linked to stored NARs, %d already present, %d failed\n",
		s.Seen, s.Committed, s.Linked, s.Skipped, s.Failed)
	if s.OtherShard > 0 {
		fmt.Fprintf(w, "skipped:       %d store paths of other shards (--shard)\n", s.OtherShard)
	}
	if s.Revived > 0 {
		fmt.Fprintf(w, "revived:       %d forgotten store paths, their tombstones deleted\n", s.Revived)
	}
	if s.ExtrasUnlisted {
		fmt.Fprintf(w, "build logs:    not copied: an HTTP cache cannot list its build logs and realisations\n")
	} else if s.Logs > 0 || s.Realisations > 0 {
		fmt.Fprintf(w, "build logs:    %d new (%s), %d new realisations\n", s.Logs, mib(s.LogBytes), s.Realisations)
	}
	fmt.Fprintf(w, "NAR bytes:     %s (source files %s)\n", mib(s.NarBytes), mib(s.SourceBytes))
	fmt.Fprintf(w, "stored bytes:  %s  (NAR/stored %s, source/stored %s)\n", mib(s.StoredBytes),
		ratio(s.NarBytes, s.StoredBytes), ratio(s.SourceBytes, s.StoredBytes))
	fmt.Fprintf(w, "chunks:        %d, %d new; %d store path occurrences cut\n", s.Chunks, s.NewChunks, s.Cuts)
	fmt.Fprintf(w, "time:          %s, %.1f MB/s of NAR\n", s.Elapsed.Round(time.Millisecond), s.MBps())
	for _, f := range s.Failures {
		fmt.Fprintf(w, "FAILED %s\n", f)
	}
	for _, h := range s.InFlight {
		fmt.Fprintf(w, "INTERRUPTED %s: not stored\n", h)
	}
	if s.Interrupted {
		fmt.Fprintf(w, "interrupted:   the run was stopped before the end, %d store paths in flight not stored; run again to resume\n", len(s.InFlight))
	}
}
