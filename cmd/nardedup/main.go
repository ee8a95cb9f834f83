// Command nardedup makes a Nix binary cache several times smaller: it
// ingests a cache into a deduplicating repository and serves it back to
// unmodified Nix clients, bit for bit, with the upstream signatures valid.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app().RunContext(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "nardedup:", explain(err))
		os.Exit(1)
	}
}

func app() *cli.App {
	return &cli.App{
		Name:  "nardedup",
		Usage: "deduplicate a Nix binary cache and serve it back to Nix",
		Description: `nardedup moves the store paths out of every NAR, so that a package rebuilt
after a dependency changed stores almost nothing new, then chunks, compresses
and stores each chunk once.

Typical use:
   nardedup ingest --repo /srv/nardedup /srv/binary-cache   # or file://… or https://…
   nardedup stats  --repo /srv/nardedup
   nardedup serve  --repo /srv/nardedup --listen 127.0.0.1:8080
   nix copy --from http://127.0.0.1:8080 /nix/store/…       # any Nix client

Every flag can also be set from the environment variable shown in its help,
or in a --config file (TOML or YAML, keys named as the flags).`,
		Commands: withConfig([]*cli.Command{
			demoCommand(),
			ingestCommand(),
			serveCommand(),
			proxyCommand(),
			mirrorCommand(),
			statsCommand(),
			verifyCommand(),
			exportCommand(),
			rebuildIndexCommand(),
			forgetCommand(),
			gcCommand(),
			upgradeCommand(),
			benchCommand(),
		}),
	}
}

// repairIndex says how to repair what most often makes a chunk go missing.
const repairIndex = "a chunk missing from the index: if an index object is missing or damaged, 'nardedup rebuild-index --from-packs' rebuilds it from the packs"

// explain adds to err what the operator can do about it.
func explain(err error) error {
	if errors.Is(err, chunkstore.ErrNotFound) && !strings.Contains(err.Error(), "rebuild-index") {
		return fmt.Errorf("%w\n(%s)", err, repairIndex)
	}
	return err
}
