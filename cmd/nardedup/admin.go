package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/cost"
	"github.com/nardedup/nardedup/narfmt/signature"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/urfave/cli/v2"
)

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "print what the repository stores and how much it saves",
		Flags: repoFlags(costFlags()...),
		Action: func(c *cli.Context) error {
			opts, err := costOptions(c)
			if err != nil {
				return err
			}
			rp, err := openRepo(c, "stats", chunkstore.Options{})
			if err != nil {
				return err
			}
			defer rp.Close()
			s, err := admin.Summarize(c.Context, rp)
			if err != nil {
				return err
			}
			printStats(s)
			if !c.Bool("cost") {
				return nil
			}
			fmt.Println()
			return cost.Write(os.Stdout, cost.Text, s.Measured(), *opts)
		},
	}
}

func printStats(s *admin.Stats) {
	kinds := make([]string, 0, len(s.Objects))
	for k := range s.Objects {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		o := s.Objects[k]
		fmt.Printf("%-14s %8d objects %12s\n", k, o.Count, mib(o.Bytes))
	}
	fmt.Printf("repository %s in all\n", mib(s.StoredBytes))
	fmt.Printf("store paths: %d, distinct NARs %d (%s)\n", s.NarInfos, s.UniqueNARs, mib(s.UniqueBytes))
	fmt.Printf("NAR bytes:   %s, upstream files %s\n", mib(s.NarBytes), mib(s.FileBytes))
	fmt.Printf("savings:     %s smaller than the NARs, %s smaller than the upstream files\n",
		ratio(s.NarBytes, s.StoredBytes), ratio(s.FileBytes, s.StoredBytes))
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "rebuild every NAR and check it against its NarHash, and check every pack's table of contents",
		Flags: repoFlags(
			&cli.StringFlag{Name: "trusted-public-keys", Usage: "also require a valid narinfo signature by one of these keys (space-separated, as in nix.conf)", EnvVars: []string{"NARDEDUP_TRUSTED_PUBLIC_KEYS"}},
			frameCacheFlag(),
			quietFlag("NARDEDUP_VERIFY_QUIET"),
		),
		Action: func(c *cli.Context) error {
			rp, err := openReader(c, "verify")
			if err != nil {
				return err
			}
			defer rp.Close()
			st := rp.NARs()
			keys, err := signature.ParsePublicKeys(c.String("trusted-public-keys"))
			if err != nil {
				return fmt.Errorf("verify: --trusted-public-keys: %w", err)
			}
			rep := startProgress(c, "verify")
			res, err := admin.VerifySigned(c.Context, st, keys, func(r admin.VerifyResult) { rep.Update(verifyCounts(r)) })
			rep.Close()
			if err != nil {
				return err
			}
			irregular, err := admin.Irregular(rp.Backend())
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			for _, d := range res.Damaged {
				fmt.Printf("DAMAGED %s\n", d)
			}
			for _, s := range irregular {
				fmt.Printf("SKIPPED %s\n", s)
			}
			fmt.Println(res)
			packs, err := admin.VerifyPacks(c.Context, rp.Chunks(), nil)
			if err != nil {
				return err
			}
			for _, d := range packs.Damaged {
				fmt.Printf("DAMAGED %s\n", d)
			}
			fmt.Printf("checked the tables of contents of %d packs, %d damaged; frames: %s\n", packs.Packs, len(packs.Damaged), packs.FrameSummary())
			var errs []error
			if len(irregular) > 0 {
				errs = append(errs, fmt.Errorf("verify: %d entries under %s are not regular files", len(irregular), layout.NarInfo.Prefix()))
			}
			if len(res.Damaged) > 0 {
				err := fmt.Errorf("verify: %d store paths cannot be served", len(res.Damaged))
				for _, d := range res.Damaged {
					if errors.Is(d.Err, chunkstore.ErrNotFound) {
						err = explain(fmt.Errorf("verify: %d store paths cannot be served, %s among them for a missing chunk: %w",
							len(res.Damaged), d.StorePath, d.Err))
						break
					}
				}
				errs = append(errs, err)
			}
			if n := len(packs.Damaged); n > 0 {
				errs = append(errs, fmt.Errorf("verify: %d damaged packs, first %s", n, packs.Damaged[0].Pack))
			}
			return errors.Join(errs...)
		},
	}
}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "write the repository back out as a plain binary cache directory",
		Flags: repoFlags(
			&cli.StringFlag{Name: "to", Usage: "directory to write", Required: true, EnvVars: []string{"NARDEDUP_EXPORT_TO"}},
			&cli.StringFlag{Name: "compression", Usage: "NAR compression: none or zstd", Value: "zstd", EnvVars: []string{"NARDEDUP_EXPORT_COMPRESSION"}},
			frameCacheFlag(),
			quietFlag("NARDEDUP_EXPORT_QUIET"),
		),
		Action: func(c *cli.Context) error {
			rp, err := openReader(c, "export")
			if err != nil {
				return err
			}
			defer rp.Close()
			st := rp.NARs()
			rep := startProgress(c, "export")
			res, err := admin.Export(c.Context, st, c.String("to"), c.String("compression"), func(r admin.ExportResult) { rep.Update(exportCounts(r)) })
			rep.Close()
			if res != nil {
				fmt.Printf("exported %d narinfos, %d NAR files (%s of NAR, %s written), %d build logs, %d realisations to %s\n",
					res.NarInfos, res.NARs, mib(res.NarBytes), mib(res.FileBytes), res.Logs, res.Realisations, c.String("to"))
			}
			return err
		},
	}
}

func rebuildIndexCommand() *cli.Command {
	return &cli.Command{
		Name:  "rebuild-index",
		Usage: "rebuild the local index cache from the repository",
		Description: `The local index is derived data. This deletes it and builds it again from the
repository's index objects, or with --from-packs from the packs themselves
(which also rewrites missing or damaged index objects).`,
		Flags: repoFlags(
			&cli.BoolFlag{Name: "from-packs", Usage: "read every pack's own table of contents", EnvVars: []string{"NARDEDUP_FROM_PACKS"}},
			&cli.StringFlag{Name: "role", Usage: "which local index: ingest, serve, verify, export or stats", Value: "serve", EnvVars: []string{"NARDEDUP_INDEX_ROLE"}},
		),
		Action: func(c *cli.Context) error {
			be, err := openBackend(c)
			if err != nil {
				return err
			}
			res, err := repo.RebuildIndex(c.Context, be, repo.Options{IndexCache: c.String("index-cache"), Role: c.String("role")}, c.Bool("from-packs"))
			if err != nil {
				return err
			}
			for _, d := range res.Damaged {
				fmt.Fprintf(os.Stderr, "DAMAGED %s\n", d)
			}
			fmt.Printf("indexed %d packs, %d chunks; %d index objects rewritten\n", res.Packs, res.Chunks, res.Rewritten)
			if len(res.Damaged) > 0 {
				return fmt.Errorf("rebuild-index: %d damaged packs left out of the index, first %s", len(res.Damaged), res.Damaged[0])
			}
			return nil
		},
	}
}
