package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
	"github.com/urfave/cli/v2"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "ingest the built-in sample cache, print the savings and serve it",
		Description: `The sample is a small real binary cache (zlib, attr, acl, bzip2) over three
generations: a base, a mass rebuild in which every store path changes, and
version bumps. demo writes it to DIR/bucket, ingests it into DIR/repo, prints
what was stored, and serves the repository, printing the nix command that
fetches from it. Give --source to run it on another binary cache instead.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "working directory", Value: "nardedup-demo", EnvVars: []string{"NARDEDUP_DEMO_DIR"}},
			&cli.StringFlag{Name: "source", Usage: "binary cache to use instead of the sample", EnvVars: []string{"NARDEDUP_DEMO_SOURCE"}},
			&cli.StringFlag{Name: "listen", Usage: "address to serve on", Value: "127.0.0.1:8080", EnvVars: []string{"NARDEDUP_LISTEN"}},
			&cli.BoolFlag{Name: "no-serve", Usage: "stop after printing the summary", EnvVars: []string{"NARDEDUP_DEMO_NO_SERVE"}},
		},
		Action: runDemo,
	}
}

func runDemo(c *cli.Context) error {
	dir := c.String("dir")
	spec := c.String("source")
	if spec == "" {
		var err error
		if spec, err = sample.WriteBucket(filepath.Join(dir, "bucket")); err != nil {
			return err
		}
		fmt.Printf("sample binary cache written to %s\n", spec)
	}
	src, err := openCache(c.Context, spec)
	if err != nil {
		return err
	}
	be, err := local.Open(filepath.Join(dir, "repo"))
	if err != nil {
		return err
	}
	ok, err := repo.Exists(c.Context, be)
	if err != nil {
		return err
	}
	if !ok {
		if _, err := repo.Create(c.Context, be, repo.DefaultConfig()); err != nil {
			return err
		}
	}
	// As ingest's default: names dedup on a repository this release made.
	cands, err := dedupCandidates(c.Context, be, "auto", slog.Default())
	if err != nil {
		return err
	}
	rp, err := repo.Open(c.Context, be, repo.Options{IndexCache: filepath.Join(dir, "index-cache"), Role: "demo",
		Chunks: chunkstore.Options{Candidates: cands}})
	if err != nil {
		return err
	}
	defer rp.Close()
	st := rp.NARs()
	stats, err := ingest.Run(c.Context, src, rp, ingest.Options{})
	printSummary(os.Stdout, stats)
	if err != nil {
		return err
	}
	rs, err := admin.Summarize(c.Context, rp)
	if err != nil {
		return err
	}
	fmt.Println()
	printStats(rs)
	if c.Bool("no-serve") {
		return nil
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return err
	}
	printNixHint(ln.Addr().String(), c.String("source") == "")
	return server.Serve(c.Context, ln, server.New(st, server.Options{}), server.HTTPOptions{})
}

func printNixHint(addr string, isSample bool) {
	fmt.Printf("\nserving on http://%s (Ctrl-C to stop). Fetch from it with Nix:\n", addr)
	path, key := "/nix/store/<hash>-<name>", "<the cache's public key>"
	if isSample {
		paths := sample.Paths(3)
		path, key = paths[0], sample.PublicKey()
		for _, p := range paths {
			if strings.Contains(p, "-acl-") && !strings.HasSuffix(p, "-man") {
				path = p
			}
		}
	}
	fmt.Printf("  nix --extra-experimental-features nix-command copy --from http://%s \\\n"+
		"    --to /tmp/nardedup-demo-store --option trusted-public-keys '%s' %s\n", addr, key, path)
}
