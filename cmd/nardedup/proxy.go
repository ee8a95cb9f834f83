package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/nardedup/nardedup/chunkstore/backend/cache"
	"github.com/nardedup/nardedup/proxy"
	"github.com/nardedup/nardedup/server"
	"github.com/urfave/cli/v2"
)

func proxyCommand() *cli.Command {
	return &cli.Command{
		Name:  "proxy",
		Usage: "serve a nardedup server's NARs to Nix, fetching only the chunks not yet held",
		Description: `proxy is a binary cache for one machine, a pool of CI runners or a LAN, in
front of a nardedup server (--upstream). For each NAR it fetches the manifest
through the server's read API, takes every chunk it holds from the NARs it
served before, and fetches only the frames of the others; each NAR is checked
against its hash before its last byte goes out. The chunks are held in memory,
or in --cache-dir across restarts, up to --cache-size, least recently used
evicted; a damaged file there is dropped and its chunk fetched again.

   nardedup proxy --upstream https://cache.example --listen 127.0.0.1:8081 \
       --cache-dir /var/cache/nardedup-proxy --cache-size 20G
   nix copy --from http://127.0.0.1:8081 /nix/store/…`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "upstream", Usage: "`URL` of the nardedup server (user:password@ for basic auth)", Required: true, EnvVars: []string{"NARDEDUP_UPSTREAM"}},
			&cli.StringFlag{Name: "upstream-token-file", Usage: "`FILE` holding a bearer token for the upstream", EnvVars: []string{"NARDEDUP_UPSTREAM_TOKEN_FILE"}},
			&cli.StringFlag{Name: "listen", Usage: "address to listen on", Value: "127.0.0.1:8080", EnvVars: []string{"NARDEDUP_LISTEN"}},
			&cli.StringFlag{Name: "cache-dir", Usage: "keep the chunks in `DIR` across restarts (default: in memory)", EnvVars: []string{"NARDEDUP_CACHE_DIR"}},
			&cli.StringFlag{Name: "cache-size", Usage: "bound of the chunks held in `BYTES` (suffixes K, M, G, T)", Value: "1G", EnvVars: []string{"NARDEDUP_CACHE_SIZE"}},
		}, observeFlags()[1:]...), // the log flags: the proxy exports no metrics yet
		Action: runProxy,
	}
}

func runProxy(c *cli.Context) error {
	log, err := newLogger(c)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	size, err := cache.ParseSize(c.String("cache-size"))
	if err != nil {
		return fmt.Errorf("proxy: --cache-size: %w", err)
	}
	var token string
	if f := c.String("upstream-token-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	p, err := proxy.New(proxy.Options{Upstream: c.String("upstream"), Token: token, CacheSize: size,
		CacheDir: c.String("cache-dir"), Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return err
	}
	log.Info("proxying "+p.Upstream(), "url", "http://"+ln.Addr().String(), "cache_size", size, "cache_dir", c.String("cache-dir"))
	return server.Serve(c.Context, ln, p, server.HTTPOptions{})
}
