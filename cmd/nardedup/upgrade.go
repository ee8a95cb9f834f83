package main

import (
	"fmt"
	"log"
	"os"

	"github.com/nardedup/nardedup/repo"
	"github.com/urfave/cli/v2"
)

func upgradeCommand() *cli.Command {
	return &cli.Command{
		Name:  "upgrade",
		Usage: "bring a repository written by an older release to the current format, in place",
		Description: `Rewrites each manifest of a format 1 repository with its chunks'
locations, then moves the repository to format 2, which servers read
without a local index. Safe beside running servers and ingests of this
release; stop those of older releases first. Stopped at any point, it
resumes where it was when run again.

--names then writes the names object of every stored NAR that lacks one
(earlier releases wrote them only for ingests with --dedup=names) and, once
every narinfo was read, marks the repository names-complete: ingest's
default --dedup=auto then dedups by names, without a local index. Run it
once on a repository created by an earlier release. It reads every narinfo;
stopped, it leaves no mark and resumes when run again.`,
		Flags: append(repoFlags(),
			&cli.BoolFlag{Name: "names", Usage: "also record every stored NAR under its package name, making names dedup ingest's default", EnvVars: []string{"NARDEDUP_UPGRADE_NAMES"}}),
		Action: func(c *cli.Context) error {
			be, err := openBackend(c)
			if err != nil {
				return err
			}
			defer be.Close()
			logf := log.New(os.Stderr, "", log.LstdFlags).Printf
			opts := repo.Options{IndexCache: c.String("index-cache"), Role: "upgrade"}
			res, err := repo.Upgrade(c.Context, be, opts, logf)
			fmt.Printf("format %d -> %d: %d manifests read, %d rewritten with their chunks' locations\n",
				res.From, res.To, res.Manifests, res.Rewritten)
			if err != nil || !c.Bool("names") {
				return err
			}
			res, err = repo.AddNames(c.Context, be, opts, logf)
			fmt.Printf("names: %d narinfos read, %d NARs recorded under their package names\n", res.NarInfos, res.Names)
			return err
		},
	}
}
