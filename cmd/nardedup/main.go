// Command nardedup makes a Nix binary cache several times smaller: it
// ingests a cache into a deduplicating repository and serves it back to
// unmodified Nix clients, bit for bit, with the upstream signatures valid.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app().RunContext(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "nardedup:", err)
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

Every flag can also be set from the environment variable shown in its help.`,
		Commands: []*cli.Command{
			demoCommand(),
			ingestCommand(),
			serveCommand(),
			statsCommand(),
			verifyCommand(),
			exportCommand(),
			rebuildIndexCommand(),
			forgetCommand(),
			gcCommand(),
			upgradeCommand(),
			benchCommand(),
		},
	}
}
