package main

import (
	"fmt"

	"github.com/nardedup/nardedup/cost"
	"github.com/urfave/cli/v2"
)

// costFlags are stats' flags for pricing the repository.
func costFlags() []cli.Flag {
	t := cost.DefaultTarget()
	return []cli.Flag{
		&cli.BoolFlag{Name: "cost", Usage: "also print a monthly bill for the repository and its source, and a projection", EnvVars: []string{"NARDEDUP_COST"}},
		&cli.StringFlag{Name: "prices", Usage: "price tables, a JSON `FILE` (default: S3 Standard us-east-1 and Cloudflare R2)", EnvVars: []string{"NARDEDUP_PRICES"}},
		&cli.Float64Flag{Name: "nars-served-per-month", Usage: "traffic the bill assumes", Value: 1e6, EnvVars: []string{"NARDEDUP_NARS_SERVED_PER_MONTH"}},
		&cli.Float64Flag{Name: "target-nars", Usage: "NARs of the bucket to project to (0: no projection)", Value: t.NARs, EnvVars: []string{"NARDEDUP_TARGET_NARS"}},
		&cli.Float64Flag{Name: "target-tib", Usage: "nar.xz TiB of that bucket, shown next to the projection", Value: t.XZBytes / (1 << 40), EnvVars: []string{"NARDEDUP_TARGET_TIB"}},
	}
}

// costOptions reads the flags of costFlags.
func costOptions(c *cli.Context) (*cost.Options, error) {
	opts := &cost.Options{Traffic: cost.Traffic{NARsPerMonth: c.Float64("nars-served-per-month")},
		Target: cost.Target{NARs: c.Float64("target-nars"), XZBytes: c.Float64("target-tib") * (1 << 40)}}
	if opts.Traffic.NARsPerMonth < 0 || opts.Target.NARs < 0 || opts.Target.XZBytes < 0 {
		return nil, fmt.Errorf("stats: --nars-served-per-month, --target-nars and --target-tib must not be negative")
	}
	if f := c.String("prices"); f != "" {
		ps, err := cost.LoadFile(f)
		if err != nil {
			return nil, fmt.Errorf("stats: --prices: %w", err)
		}
		opts.Prices = ps
	}
	return opts, nil
}
