package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/server"
	"github.com/urfave/cli/v2"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve the repository as a Nix binary cache over HTTP",
		Description: `Point Nix at it as a substituter, e.g.
   nix copy --from http://ADDR --to … --option trusted-public-keys 'KEY' PATH
or add http://ADDR to 'substituters' in nix.conf. The upstream signatures are
served unchanged, so keep your usual trusted-public-keys.`,
		Flags: repoFlags(
			&cli.StringFlag{Name: "listen", Usage: "address to listen on", Value: "127.0.0.1:8080", EnvVars: []string{"NARDEDUP_LISTEN"}},
			&cli.StringFlag{Name: "compression", Usage: "how NARs are offered: zstd (compressed on the fly) or none", Value: "zstd", EnvVars: []string{"NARDEDUP_SERVE_COMPRESSION"}},
			&cli.IntFlag{Name: "priority", Usage: "nix-cache-info Priority (lower is preferred)", Value: 40, EnvVars: []string{"NARDEDUP_PRIORITY"}},
		),
		Action: func(c *cli.Context) error {
			st, err := openRepo(c, "serve", chunkstore.Options{})
			if err != nil {
				return err
			}
			defer st.Chunks().Close()
			ln, err := net.Listen("tcp", c.String("listen"))
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			comp := c.String("compression")
			if comp != "zstd" && comp != "none" {
				return fmt.Errorf("serve: --compression %q: want zstd or none", comp)
			}
			h := server.New(st, server.Options{Priority: c.Int("priority"), Logger: log, Compression: comp})
			fmt.Fprintf(os.Stderr, "serving %s on http://%s\n", c.String("repo"), ln.Addr())
			return serveHTTP(c.Context, ln, h)
		},
	}
}

// serveHTTP serves h on ln until ctx is done, then shuts down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
