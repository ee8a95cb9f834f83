package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/nardedup/nardedup/chunkstore/backend/cache"
	"github.com/nardedup/nardedup/internal/metrics"
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
   nix copy --from http://127.0.0.1:8081 /nix/store/…

An upstream that is not nardedup, and NARs without a manifest in its read
API, are passed through unchanged, each checked against its narinfo before
its last byte. Credentials for the upstream: user:password@ in its URL,
--upstream-token-file (bearer) or --upstream-netrc (the machine of the
upstream's host, as Nix reads netrc-file). Each request is logged;
--metrics-listen exports the bytes received from the upstream by kind
(manifest, frame, passthrough) and served; /healthz answers 200.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "upstream", Usage: "`URL` of the nardedup server (user:password@ for basic auth)", Required: true, EnvVars: []string{"NARDEDUP_UPSTREAM"}},
			&cli.StringFlag{Name: "upstream-token-file", Usage: "`FILE` holding a bearer token for the upstream", EnvVars: []string{"NARDEDUP_UPSTREAM_TOKEN_FILE"}},
			&cli.StringFlag{Name: "upstream-netrc", Usage: "netrc `FILE` holding basic auth for the upstream's host", EnvVars: []string{"NARDEDUP_UPSTREAM_NETRC"}},
			&cli.StringFlag{Name: "listen", Usage: "address to listen on", Value: "127.0.0.1:8080", EnvVars: []string{"NARDEDUP_LISTEN"}},
			&cli.StringFlag{Name: "cache-dir", Usage: "keep the chunks in `DIR` across restarts (default: in memory)", EnvVars: []string{"NARDEDUP_CACHE_DIR"}},
			&cli.StringFlag{Name: "cache-size", Usage: "bound of the chunks held in `BYTES` (suffixes K, M, G, T)", Value: "1G", EnvVars: []string{"NARDEDUP_CACHE_SIZE"}},
		}, observeFlags()...),
		Action: runProxy,
	}
}

func runProxy(c *cli.Context) error {
	log, reg, err := observe(c)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	size, err := cache.ParseSize(c.String("cache-size"))
	if err != nil {
		return fmt.Errorf("proxy: --cache-size: %w", err)
	}
	upstream, token, err := remoteAuth(c, "upstream")
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	p, err := proxy.New(proxy.Options{Upstream: upstream, Token: token, CacheSize: size,
		CacheDir: c.String("cache-dir"), Logger: log})
	if err != nil {
		return err
	}
	if err := metrics.RegisterProxy(reg, p.Stats); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	h, err := server.Observe(p, server.ObserveOptions{Logger: log, Metrics: reg})
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return err
	}
	stop, err := startMetrics(c, reg, log)
	if err != nil {
		ln.Close()
		return fmt.Errorf("proxy: %w", err)
	}
	defer stop()
	log.Info("proxying "+p.Upstream(), "url", "http://"+ln.Addr().String(), "cache_size", size, "cache_dir", c.String("cache-dir"))
	return server.Serve(c.Context, ln, h, server.HTTPOptions{})
}

// remoteAuth returns the URL of flag --NAME with the credentials of
// --NAME-netrc, if given and the URL holds none, and the bearer token in
// --NAME-token-file, if given.
func remoteAuth(c *cli.Context, name string) (remote, token string, err error) {
	remote = c.String(name)
	if f := c.String(name + "-token-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", "", fmt.Errorf("--%s-token-file: %w", name, err)
		}
		token = strings.TrimSpace(string(b))
	}
	if f := c.String(name + "-netrc"); f != "" {
		if remote, err = withNetrc(remote, f); err != nil {
			return "", "", fmt.Errorf("--%s-netrc: %w", name, err)
		}
	}
	return remote, token, nil
}

// withNetrc returns the URL remote with the login and password that the
// netrc file gives for its host (or its default entry), unless it holds
// credentials already.
func withNetrc(remote, file string) (string, error) {
	u, err := url.Parse(remote)
	if err != nil {
		return "", err
	}
	if u.User != nil {
		return remote, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	login, password, ok := netrcEntry(string(b), u.Hostname())
	if !ok {
		return "", fmt.Errorf("%s: no machine %s and no default", file, u.Hostname())
	}
	u.User = url.UserPassword(login, password)
	return u.String(), nil
}

// netrcEntry returns the login and password of machine host in a netrc
// text, or of its default entry.
func netrcEntry(text, host string) (login, password string, ok bool) {
	var cur, defLogin, defPassword string
	var inDefault, hasDefault, found bool
	fields := strings.Fields(text)
	for i := 0; i < len(fields); i++ {
		next := func() string {
			if i+1 < len(fields) {
				i++
				return fields[i]
			}
			return ""
		}
		switch fields[i] {
		case "machine":
			if found {
				return login, password, true
			}
			cur, inDefault = next(), false
			found = cur == host
		case "default":
			if found {
				return login, password, true
			}
			cur, inDefault, hasDefault = "", true, true
		case "login":
			v := next()
			if found {
				login = v
			} else if inDefault {
				defLogin = v
			}
		case "password":
			v := next()
			if found {
				password = v
			} else if inDefault {
				defPassword = v
			}
		case "account", "macdef":
			next()
		}
	}
	if found {
		return login, password, true
	}
	return defLogin, defPassword, hasDefault
}
