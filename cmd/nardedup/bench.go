package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nardedup/nardedup/bench"
	"github.com/nardedup/nardedup/bench/report"
	"github.com/nardedup/nardedup/source"
	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "measure storage and speed on a binary cache and write a report",
		ArgsUsage: "[SOURCE]",
		Description: `Ingests a binary cache into scratch repositories and writes OUT/report.md,
OUT/report.json and SVG charts. With --generations-from DIR (a make-bucket
corpus) it ingests DIR/gen-1, DIR/gen-2, … in order and reports what each
generation adds; with SOURCE the whole cache is one generation.

The report also compares nardedup with the source's nar.xz files, zstd per
NAR and chunking without path stripping (and the repository after
gc --recompress), measures other deduplicating tools
(casync, borg, restic; those not installed are reported as such) on the raw
NARs, measures ingest and serve speed, and sweeps the chunk size, zstd
level and group size over the first --sweep-generations generations.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "directory for the report", Required: true, EnvVars: []string{"NARDEDUP_BENCH_OUT"}},
			&cli.StringFlag{Name: "generations-from", Usage: "make-bucket corpus directory (DIR/gen-K)", EnvVars: []string{"NARDEDUP_BENCH_GENERATIONS_FROM"}},
			&cli.StringFlag{Name: "work-dir", Usage: "directory for the scratch repositories (default OUT/scratch, removed afterwards)", EnvVars: []string{"NARDEDUP_BENCH_WORK_DIR"}},
			&cli.IntFlag{Name: "jobs", Usage: "NARs ingested in parallel", Value: 2, EnvVars: []string{"NARDEDUP_BENCH_JOBS"}},
			&cli.StringFlag{Name: "sweep", Usage: "configurations to sweep: one-at-a-time, full or none", Value: "one-at-a-time", EnvVars: []string{"NARDEDUP_BENCH_SWEEP"}},
			&cli.IntFlag{Name: "sweep-generations", Usage: "generations each sweep configuration ingests", Value: 2, EnvVars: []string{"NARDEDUP_BENCH_SWEEP_GENERATIONS"}},
			&cli.StringFlag{Name: "sweep-from", Usage: "make-bucket corpus for the sweep (default: the one benchmarked)", EnvVars: []string{"NARDEDUP_BENCH_SWEEP_FROM"}},
			&cli.BoolFlag{Name: "no-compare", Usage: "leave out the storage comparison", EnvVars: []string{"NARDEDUP_BENCH_NO_COMPARE"}},
			&cli.BoolFlag{Name: "no-recompress", Usage: "leave out the comparison's repositories after gc --recompress (minutes of CPU on a large corpus)", EnvVars: []string{"NARDEDUP_BENCH_NO_RECOMPRESS"}},
			&cli.StringFlag{Name: "peers", Usage: "other tools to measure on the raw NARs: all, none or a comma-separated list of " + strings.Join(bench.PeerNames(), ", "), Value: "all", EnvVars: []string{"NARDEDUP_BENCH_PEERS"}},
			&cli.BoolFlag{Name: "no-speed", Usage: "leave out the speed section (ingest from uncompressed NARs, xz -dc, serve)", EnvVars: []string{"NARDEDUP_BENCH_NO_SPEED"}},
			&cli.IntSliceFlag{Name: "serve-clients", Usage: "concurrent clients of the serve measurement", Value: cli.NewIntSlice(bench.DefaultServeClients()...), EnvVars: []string{"NARDEDUP_BENCH_SERVE_CLIENTS"}},
			&cli.StringFlag{Name: "from-json", Usage: "measure nothing: render the report.json of an earlier run into OUT", EnvVars: []string{"NARDEDUP_BENCH_FROM_JSON"}},
		},
		Action: runBench,
	}
}

func runBench(c *cli.Context) error {
	if path := c.String("from-json"); path != "" {
		return renderBench(path, c.String("out"))
	}
	opts, err := benchOptions(c)
	if err != nil {
		return err
	}
	out := c.String("out")
	if opts.WorkDir == "" {
		opts.WorkDir = filepath.Join(out, "scratch")
		defer os.RemoveAll(opts.WorkDir)
	}
	rep, err := bench.Run(c.Context, opts)
	if err != nil {
		return err
	}
	if err := report.WriteFiles(out, rep); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", filepath.Join(out, "report.md"))
	return nil
}

// renderBench writes the report files of an earlier run's report.json.
func renderBench(path, out string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	rep, err := bench.ParseJSON(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return report.WriteFiles(out, rep)
}

func benchOptions(c *cli.Context) (bench.Options, error) {
	opts := bench.Options{WorkDir: c.String("work-dir"), Jobs: c.Int("jobs"), Log: os.Stderr,
		SweepGenerations: c.Int("sweep-generations"), SkipCompare: c.Bool("no-compare"),
		SkipRecompress: c.Bool("no-recompress"),
		Command:        commandLine(c)}
	var err error
	switch corpus := c.String("generations-from"); {
	case corpus != "" && c.NArg() == 0:
		opts.Generations, opts.Corpus, err = bench.CorpusGenerations(corpus)
	case corpus == "" && c.NArg() == 1:
		var src source.Source
		if src, err = openCache(c.Context, c.Args().First()); err == nil {
			opts.Generations = []bench.Generation{{Name: "source", Source: src}}
		}
	default:
		return opts, errors.New("bench: give either --generations-from DIR or one SOURCE")
	}
	if err != nil {
		return opts, err
	}
	if dir := c.String("sweep-from"); dir != "" {
		if opts.SweepSource, opts.SweepCorpus, err = bench.CorpusGenerations(dir); err != nil {
			return opts, err
		}
	}
	if err := peerOptions(c, &opts); err != nil {
		return opts, err
	}
	switch c.String("sweep") {
	case "one-at-a-time":
	case "full":
		opts.Sweep = bench.FullGrid()
	case "none":
		opts.SkipSweep = true
	default:
		return opts, fmt.Errorf("bench: --sweep %q: want one-at-a-time, full or none", c.String("sweep"))
	}
	return opts, nil
}

// peerOptions sets the peers and speed options from the flags.
func peerOptions(c *cli.Context, opts *bench.Options) error {
	opts.SkipSpeed, opts.ServeClients = c.Bool("no-speed"), c.IntSlice("serve-clients")
	for _, n := range opts.ServeClients {
		if n <= 0 {
			return fmt.Errorf("bench: --serve-clients %v: counts must be positive", opts.ServeClients)
		}
	}
	switch peers := c.String("peers"); peers {
	case "all":
	case "none":
		opts.SkipPeers = true
	default:
		known := bench.PeerNames()
		for _, name := range strings.Split(peers, ",") {
			if name = strings.TrimSpace(name); !slices.Contains(known, name) {
				return fmt.Errorf("bench: --peers: unknown peer %q (want all, none or some of %s)", name, strings.Join(known, ", "))
			}
			opts.Peers = append(opts.Peers, name)
		}
	}
	return nil
}

// commandLine is the command as typed, with the program called nardedup.
func commandLine(c *cli.Context) string {
	args := append([]string{"nardedup"}, os.Args[1:]...)
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$") {
			args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(args, " ")
}
