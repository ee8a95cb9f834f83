package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/repo"
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
served unchanged, so keep your usual trusted-public-keys. The server is
read-only: it has no write or admin endpoint.

Slow clients: a client has 10s to send its request headers and 30s for the
whole request; over 16 KiB of request line and headers gets 431; a keep-alive
connection is closed after --idle-timeout without a request. A NAR download
has no overall time limit, but a client that reads nothing for --send-timeout
is cut off.

Load: each NAR download decodes a few frames ahead and holds up to tens of
MiB; --max-nar-streams bounds them (default: sized from memory). A download
beyond it waits up to 30s for a slot, then gets 503 with Retry-After, which
Nix retries.

Cache: with --cache-dir, pack frames, manifests and index objects read from
the repository are kept in DIR, least recently used evicted beyond
--cache-size; narinfos are always read from the repository. The cache is
safe to delete, and is adopted again after a restart.

Memory: decoded frames are kept in memory up to --frame-cache (default
256M), most recently used first, so a frame that several chunks of a NAR, or
several NARs, come from is decompressed once: popular NARs are served from
memory. The process may hold about twice the cache. 0 turns it off.

Auth (off by default): with --auth-token FILE (one token a line) requests
must send "Authorization: Bearer TOKEN" or basic auth with the token as
password; with --basic-auth FILE (one user:password a line) basic auth. Both
may be given; either given empty (e.g. an empty NARDEDUP_AUTH_TOKEN_FILE) is
an error, not auth off. The startup line says which auth is in force.
Nix sends basic auth from a netrc file (nix.conf netrc-file):
   machine HOST login USER password PASSWORD-OR-TOKEN`,
		Flags: repoFlags(
			&cli.StringFlag{Name: "listen", Usage: "address to listen on", Value: "127.0.0.1:8080", EnvVars: []string{"NARDEDUP_LISTEN"}},
			&cli.StringFlag{Name: "compression", Usage: "how NARs are offered: zstd (compressed on the fly) or none", Value: "zstd", EnvVars: []string{"NARDEDUP_SERVE_COMPRESSION"}},
			&cli.IntFlag{Name: "priority", Usage: "nix-cache-info Priority (lower is preferred)", Value: 40, EnvVars: []string{"NARDEDUP_PRIORITY"}},
			&cli.IntFlag{Name: "max-nar-streams", Usage: "NAR downloads in progress at most; 0: sized from memory, -1: no bound", EnvVars: []string{"NARDEDUP_MAX_NAR_STREAMS"}},
			&cli.DurationFlag{Name: "send-timeout", Usage: "cut off a NAR download whose client reads nothing for this long", Value: server.DefaultSendTimeout, EnvVars: []string{"NARDEDUP_SEND_TIMEOUT"}},
			&cli.DurationFlag{Name: "idle-timeout", Usage: "close a keep-alive connection idle for this long", Value: server.DefaultIdleTimeout, EnvVars: []string{"NARDEDUP_IDLE_TIMEOUT"}},
			&cli.StringFlag{Name: "auth-token", Usage: "require a bearer token (or basic auth with it as password) listed in `FILE`", EnvVars: []string{"NARDEDUP_AUTH_TOKEN_FILE"}},
			&cli.StringFlag{Name: "basic-auth", Usage: "require basic auth with a user:password listed in `FILE`", EnvVars: []string{"NARDEDUP_BASIC_AUTH_FILE"}},
			frameCacheFlag(),
			&cli.StringFlag{Name: "cache-dir", Usage: "keep a local cache of packs, manifests and index objects in `DIR` (for a repository on S3)", EnvVars: []string{"NARDEDUP_CACHE_DIR"}},
			&cli.StringFlag{Name: "cache-size", Usage: "bound of --cache-dir in `BYTES` (suffixes K, M, G, T)", Value: "10G", EnvVars: []string{"NARDEDUP_CACHE_SIZE"}},
		),
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	comp := c.String("compression")
	if comp != "zstd" && comp != "none" {
		return fmt.Errorf("serve: --compression %q: want zstd or none", comp)
	}
	auth, authLine, err := serveAuth(c)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	be, err := openBackend(c)
	if err != nil {
		return err
	}
	if be, err = withCache(c, be); err != nil {
		be.Close()
		return fmt.Errorf("serve: %w", err)
	}
	frames, err := frameCache(c)
	if err != nil {
		be.Close()
		return fmt.Errorf("serve: %w", err)
	}
	rp, err := repo.Open(c.Context, be, repo.Options{IndexCache: c.String("index-cache"), Role: "serve", Chunks: chunkstore.Options{FrameCache: frames}, ReadOnly: true})
	if err != nil {
		return err
	}
	defer rp.Close()
	st := rp.NARs()
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	h := server.New(st, server.Options{Priority: c.Int("priority"), Logger: log, Compression: comp,
		SendTimeout: c.Duration("send-timeout"), MaxConcurrentNARs: c.Int("max-nar-streams"), Auth: auth})
	fmt.Fprintf(os.Stderr, "serving %s on http://%s (%s)\n", c.String("repo"), ln.Addr(), authLine)
	return server.Serve(c.Context, ln, h, server.HTTPOptions{IdleTimeout: c.Duration("idle-timeout")})
}

// authFlags are serve's flags that name credential files.
var authFlags = []string{"auth-token", "basic-auth"}

// serveAuth returns the credentials of --auth-token and --basic-auth (nil
// if neither is given) and a line for the operator saying what they are.
// A flag given with an empty value, on the command line or through its
// environment variable, is an error rather than auth turned off: an empty
// variable must not turn a private cache public.
func serveAuth(c *cli.Context) (*server.Auth, string, error) {
	for _, name := range authFlags {
		if c.IsSet(name) && c.String(name) == "" {
			return nil, "", fmt.Errorf("--%s is set but empty (check %s): give a FILE, or leave it unset to serve without auth", name, flagEnvVar(c, name))
		}
	}
	tokens, basic := c.String("auth-token"), c.String("basic-auth")
	if tokens == "" && basic == "" {
		return nil, "auth: off (anyone may read)", nil
	}
	auth := &server.Auth{}
	var what []string
	if tokens != "" {
		if err := auth.LoadTokenFile(tokens); err != nil {
			return nil, "", fmt.Errorf("--auth-token: %w", err)
		}
		what = append(what, "bearer tokens from "+tokens)
	}
	if basic != "" {
		if err := auth.LoadBasicFile(basic); err != nil {
			return nil, "", fmt.Errorf("--basic-auth: %w", err)
		}
		what = append(what, "basic auth from "+basic)
	}
	return auth, "auth: " + strings.Join(what, ", "), nil
}

// flagEnvVar returns the environment variable of the command's flag name.
func flagEnvVar(c *cli.Context, name string) string {
	for _, f := range c.Command.Flags {
		ef, ok := f.(interface{ GetEnvVars() []string })
		if ok && f.Names()[0] == name && len(ef.GetEnvVars()) > 0 {
			return ef.GetEnvVars()[0]
		}
	}
	return "its environment variable"
}
