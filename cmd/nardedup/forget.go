package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/retention"
	"github.com/urfave/cli/v2"
)

// dryRunList is how many paths a dry run lists without --verbose.
const dryRunList = 20

func forgetCommand() *cli.Command {
	return &cli.Command{
		Name:  "forget",
		Usage: "delete the narinfos of store paths no longer wanted (nardedup gc then reclaims their data)",
		Description: `forget deletes narinfos and nothing else: the server answers 404 for those
store paths at once, and the next 'nardedup gc' reclaims what no remaining
narinfo needs. Give at least one rule:

   --paths FILE         the store paths (or their 32-character hashes) listed
   --older-than AGE     the paths ingested longer ago than AGE (30d, 12h, 90m)
   --keep-roots FILE    everything outside the closure of the listed store paths
                        (following the narinfos' References)

A path goes if --paths or --older-than selects it, and --keep-roots also
selects everything outside its closure; but a path inside the closure of
--keep-roots is never forgotten. Lists hold one store path or hash a line;
blank lines and '#' comments are ignored. Listed paths, roots and references
the repository does not hold are reported, not errors; keep-roots of which it
holds none are refused, as they would forget every path.

--tombstones keeps each forgotten narinfo, unchanged, under tombstones/: an
ingest that meets the same NAR under that store path again writes it back,
signatures and all. --dry-run changes nothing and shows what would go.`,
		Flags: repoFlags(
			&cli.StringFlag{Name: "paths", Usage: "forget the store paths listed in this file", EnvVars: []string{"NARDEDUP_FORGET_PATHS"}},
			&cli.StringFlag{Name: "older-than", Usage: "forget the store paths ingested longer ago than this (e.g. 30d, 36h)", EnvVars: []string{"NARDEDUP_FORGET_OLDER_THAN"}},
			&cli.StringFlag{Name: "keep-roots", Usage: "forget everything outside the closure of the store paths listed in this file", EnvVars: []string{"NARDEDUP_FORGET_KEEP_ROOTS"}},
			&cli.BoolFlag{Name: "tombstones", Usage: "keep each forgotten narinfo under tombstones/, to be revived by a later ingest", EnvVars: []string{"NARDEDUP_FORGET_TOMBSTONES"}},
			&cli.BoolFlag{Name: "dry-run", Usage: "report what would be forgotten; change nothing", EnvVars: []string{"NARDEDUP_FORGET_DRY_RUN"}},
			&cli.BoolFlag{Name: "verbose", Usage: "list every store path forgotten", EnvVars: []string{"NARDEDUP_FORGET_VERBOSE"}},
		),
		Action: runForget,
	}
}

func runForget(c *cli.Context) error {
	if c.NArg() != 0 {
		return fmt.Errorf("forget: unexpected argument %q (the rules are flags)", c.Args().First())
	}
	if c.String("paths") == "" && c.String("older-than") == "" && c.String("keep-roots") == "" {
		return errors.New("forget: give at least one rule: --paths FILE, --older-than AGE or --keep-roots FILE")
	}
	var rule retention.Rule
	if s := c.String("older-than"); s != "" {
		age, err := parseAge(s)
		if err != nil {
			return fmt.Errorf("forget: --older-than: %w", err)
		}
		rule.OlderThan = age
	}
	rp, err := openRepo(c, "forget", chunkstore.Options{})
	if err != nil {
		return err
	}
	defer rp.Close()
	st := rp.NARs()
	storeDir := st.StoreDir()
	if f := c.String("paths"); f != "" {
		if rule.Paths, err = retention.ReadList(f, storeDir); err != nil {
			return fmt.Errorf("forget: --paths: %w", err)
		}
	}
	if f := c.String("keep-roots"); f != "" {
		if rule.KeepRoots, err = retention.ReadList(f, storeDir); err != nil {
			return fmt.Errorf("forget: --keep-roots: %w", err)
		}
		if len(rule.KeepRoots) == 0 {
			return fmt.Errorf("forget: --keep-roots %s lists no store path: it would forget every one", f)
		}
	}
	dry := c.Bool("dry-run")
	opts := retention.Options{DryRun: dry, Tombstones: c.Bool("tombstones")}
	if dry {
		// What a collection would then free: a dry run of gc without the
		// selected narinfos.
		opts.Freed = func(ctx context.Context, drop map[string]bool) (int64, error) {
			return gc.Freed(ctx, rp, drop, "")
		}
	}
	rep, err := retention.Forget(c.Context, st, rule, opts)
	if rep != nil {
		printForgetReport(os.Stdout, rep, dry, c.Bool("verbose"))
	}
	return err
}

// parseAge parses a duration as time.ParseDuration does, or a whole number
// of days such as 30d.
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q: want a duration such as 30d, 36h or 90m", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q: want a duration such as 30d, 36h or 90m", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: want a duration above zero", s)
	}
	return d, nil
}

func printForgetReport(w io.Writer, r *retention.Report, dry, verbose bool) {
	list := r.Forgotten
	if dry && !verbose && len(list) > dryRunList {
		list = list[:dryRunList]
	}
	if dry || verbose {
		for _, p := range list {
			name := p.StorePath
			if name == "" {
				name = p.Hash + " (unreadable narinfo)"
			}
			fmt.Fprintf(w, "  %s\n", name)
		}
		if len(list) < len(r.Forgotten) {
			fmt.Fprintf(w, "  … and %d more (--verbose lists them all)\n", len(r.Forgotten)-len(list))
		}
	}
	verb := "forgot"
	if dry {
		verb = "would forget"
	}
	fmt.Fprintf(w, "%s %d store paths (%s of NAR); %d kept", verb, len(r.Forgotten), mib(r.NarBytes), r.Kept)
	if r.Protected > 0 {
		fmt.Fprintf(w, ", %d of them selected but in the closure of the keep-roots", r.Protected)
	}
	fmt.Fprintln(w)
	if r.Tombstoned > 0 {
		fmt.Fprintf(w, "tombstones written: %d\n", r.Tombstoned)
	}
	if len(r.NotFound) > 0 {
		fmt.Fprintf(w, "not in the repository: %d of the paths listed: %s\n", len(r.NotFound), firstFew(r.NotFound, len(r.NotFound)))
	}
	if len(r.MissingRoots) > 0 {
		fmt.Fprintf(w, "not in the repository: %d of the keep-roots: %s\n", len(r.MissingRoots), firstFew(r.MissingRoots, len(r.MissingRoots)))
	}
	if r.MissingRefs > 0 {
		fmt.Fprintf(w, "not in the repository: %d references in the closure of the keep-roots: %s\n", r.MissingRefs, firstFew(r.MissingRefSample, r.MissingRefs))
	}
	if r.FreedBytes >= 0 {
		fmt.Fprintf(w, "garbage collection would then free about %s\n", mib(r.FreedBytes))
	}
	if len(r.Forgotten) > 0 {
		if dry {
			fmt.Fprintln(w, "nothing was changed (--dry-run)")
		} else {
			fmt.Fprintln(w, "run nardedup gc to reclaim the space")
		}
	}
}

// firstFew names the first few of n items.
func firstFew(items []string, n int) string {
	const few = 5
	if len(items) > few {
		items = items[:few]
	}
	s := strings.Join(items, ", ")
	if n > len(items) {
		s += fmt.Sprintf(", … (%d more)", n-len(items))
	}
	return s
}
