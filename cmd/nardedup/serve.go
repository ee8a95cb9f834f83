package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/cache"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/metrics"
	"github.com/nardedup/nardedup/narfmt/signature"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
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
read-only unless pushing is turned on (see below); it has no admin endpoint.

Slow clients: a client has 10s to send its request headers and 30s for the
whole request; over 16 KiB of request line and headers gets 431; a keep-alive
connection is closed after --idle-timeout without a request. A NAR download
has no overall time limit, but a client that reads nothing for --send-timeout
is cut off.

Load: each NAR download decodes a few frames ahead and holds up to tens of
MiB; --max-nar-streams bounds them (default: sized from memory). A download
beyond it waits up to 30s for a slot, then gets 503 with Retry-After, which
Nix retries.

Slow readers: one client (IP address, IPv6 /64) may run at most
--max-nar-streams-per-client downloads (default: 16, or an eighth of
--max-nar-streams if more, at most a quarter); one more gets 429 at once,
which Nix retries. The last sixteenth of the streams go only to clients that
hold none yet. A download read below --min-rate over a --min-rate-window,
after a first window of grace, is cut off and logged. Behind a reverse proxy
every client has the proxy's address: give --max-nar-streams-per-client -1.

Cache: with --cache-dir, pack frames, manifests and index objects read from
the repository are kept in DIR, least recently used evicted beyond
--cache-size; narinfos are always read from the repository. The cache is
safe to delete, and is adopted again after a restart.

With --nar-cache-dir, whole NARs served are kept in DIR once they passed
their NarHash check, least recently served evicted beyond --nar-cache-size,
and served from there (checked again as they go out): a popular NAR is then
read from a file rather than rebuilt. It too survives a restart.

HTTP caching: NARs are served with Cache-Control "max-age" of a year and
"immutable", narinfos with --narinfo-max-age, 404s with --negative-max-age;
answers carry an ETag and conditional GETs get 304. With auth, answers are
not marked public, so a shared cache (CDN) does not keep them. A plain NAR
answers one Range with 206; /HASH.ls is the NAR's file listing (as Nix's
write-nar-listing), built by rebuilding the NAR.

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
   machine HOST login USER password PASSWORD-OR-TOKEN

Pushing (off by default): with --upload-token FILE or --upload-basic-auth
FILE (same formats as --auth-token and --basic-auth) the server also takes
what 'nix copy --to http://ADDR PATH' writes, from those credentials only;
they also admit reads, since Nix sends one set of credentials for a host.
A pushed NAR is stored as it arrives; its path becomes visible only when
its narinfo arrives and matches it. Uploads need a repository opened for
writing: the server then keeps a local index and a session like ingest.
Pushed narinfos keep their Sig lines; --upload-require-sigs KEYS refuses one
without a valid signature by one of KEYS, and --sign-key FILE adds the
server's own signature to each one accepted.

Pull-through (off by default): with --upstream URL (repeatable: asked in
order; a directory, file://, http(s):// or s3:// cache, as ingest takes) a
narinfo the repository lacks is asked of the upstreams, and its NAR is pulled
once however many clients ask, streamed to them as it arrives while it is
checked and stored; only a NAR that matches its NarHash is committed, with
the upstream narinfo and its Sig lines. --upstream-public-keys KEYS admits
only narinfos signed by one of KEYS; misses are remembered for
--upstream-negative-ttl. Pulling writes to the repository, so --upstream
opens it for writing like pushing does, and fails if it cannot be written.

Health: /healthz answers 200 while the process serves, /readyz 200 if the
repository answers (a Stat of its config, reused for 5s) and 503 if not;
both without auth. Logs: one line per request (method, path, status, bytes,
duration, client) at info, as text or --log-format json. Metrics: with
--metrics-listen ADDR, Prometheus metrics at http://ADDR/metrics.`,
		Flags: repoFlags(append(observeFlags(),
			&cli.StringFlag{Name: "listen", Usage: "address to listen on", Value: "127.0.0.1:8080", EnvVars: []string{"NARDEDUP_LISTEN"}},
			&cli.StringFlag{Name: "compression", Usage: "how NARs are offered: zstd (compressed on the fly) or none", Value: "zstd", EnvVars: []string{"NARDEDUP_SERVE_COMPRESSION"}},
			&cli.IntFlag{Name: "priority", Usage: "nix-cache-info Priority (lower is preferred)", Value: 40, EnvVars: []string{"NARDEDUP_PRIORITY"}},
			&cli.IntFlag{Name: "max-nar-streams", Usage: "NAR downloads in progress at most; 0: sized from memory, -1: no bound", EnvVars: []string{"NARDEDUP_MAX_NAR_STREAMS"}},
			&cli.IntFlag{Name: "max-nar-streams-per-client", Usage: "NAR downloads one client (IP address, IPv6 /64) may run at once; 0: derived from --max-nar-streams, -1: no bound", EnvVars: []string{"NARDEDUP_MAX_NAR_STREAMS_PER_CLIENT"}},
			&cli.StringFlag{Name: "min-rate", Usage: "cut off a NAR download read slower than `BYTES` a second (suffixes K, M; 0: never)", Value: "16K", EnvVars: []string{"NARDEDUP_MIN_RATE"}},
			&cli.DurationFlag{Name: "min-rate-window", Usage: "window over which --min-rate is measured; the first is a grace period", Value: server.DefaultMinRateWindow, EnvVars: []string{"NARDEDUP_MIN_RATE_WINDOW"}},
			&cli.DurationFlag{Name: "send-timeout", Usage: "cut off a NAR download whose client reads nothing for this long", Value: server.DefaultSendTimeout, EnvVars: []string{"NARDEDUP_SEND_TIMEOUT"}},
			&cli.DurationFlag{Name: "idle-timeout", Usage: "close a keep-alive connection idle for this long", Value: server.DefaultIdleTimeout, EnvVars: []string{"NARDEDUP_IDLE_TIMEOUT"}},
			&cli.DurationFlag{Name: "narinfo-max-age", Usage: "how long caches and CDNs may keep a narinfo (0: ask every time)", Value: server.DefaultNarInfoMaxAge, EnvVars: []string{"NARDEDUP_NARINFO_MAX_AGE"}},
			&cli.DurationFlag{Name: "negative-max-age", Usage: "how long caches and CDNs may keep a 404 (0: ask every time)", Value: server.DefaultNegativeMaxAge, EnvVars: []string{"NARDEDUP_NEGATIVE_MAX_AGE"}},
			&cli.StringFlag{Name: "auth-token", Usage: "require a bearer token (or basic auth with it as password) listed in `FILE`", EnvVars: []string{"NARDEDUP_AUTH_TOKEN_FILE"}},
			&cli.StringFlag{Name: "basic-auth", Usage: "require basic auth with a user:password listed in `FILE`", EnvVars: []string{"NARDEDUP_BASIC_AUTH_FILE"}},
			&cli.StringFlag{Name: "upload-token", Usage: "accept pushes (nix copy --to) from a bearer token (or basic auth with it as password) listed in `FILE`", EnvVars: []string{"NARDEDUP_UPLOAD_TOKEN_FILE"}},
			&cli.StringFlag{Name: "upload-basic-auth", Usage: "accept pushes from basic auth with a user:password listed in `FILE`", EnvVars: []string{"NARDEDUP_UPLOAD_BASIC_AUTH_FILE"}},
			&cli.StringFlag{Name: "upload-require-sigs", Usage: "refuse a pushed narinfo without a valid signature by one of `KEYS` (space-separated, as in nix.conf)", EnvVars: []string{"NARDEDUP_UPLOAD_REQUIRE_SIGS"}},
			&cli.StringFlag{Name: "sign-key", Usage: "sign every pushed narinfo accepted with the Nix secret key in `FILE` (nix-store --generate-binary-cache-key)", EnvVars: []string{"NARDEDUP_SIGN_KEY_FILE"}},
			&cli.StringFlag{Name: "max-upload-size", Usage: "refuse a pushed NAR file, or the NAR it holds, over `BYTES` (suffixes K, M, G, T)", Value: "32G", EnvVars: []string{"NARDEDUP_MAX_UPLOAD_SIZE"}},
			&cli.StringSliceFlag{Name: "upstream", Usage: "pull what the repository lacks from the binary cache at `URL` (repeatable, asked in order)", EnvVars: []string{"NARDEDUP_UPSTREAM"}},
			&cli.StringFlag{Name: "upstream-public-keys", Usage: "admit only upstream narinfos with a valid signature by one of `KEYS` (space-separated, as in nix.conf)", EnvVars: []string{"NARDEDUP_UPSTREAM_PUBLIC_KEYS"}},
			&cli.DurationFlag{Name: "upstream-negative-ttl", Usage: "remember for this long that no upstream has a store path (0: ask every time)", Value: time.Minute, EnvVars: []string{"NARDEDUP_UPSTREAM_NEGATIVE_TTL"}},
			frameCacheFlag(),
			&cli.StringFlag{Name: "cache-dir", Usage: "keep a local cache of packs, manifests and index objects in `DIR` (for a repository on S3)", EnvVars: []string{"NARDEDUP_CACHE_DIR"}},
			&cli.StringFlag{Name: "cache-size", Usage: "bound of --cache-dir in `BYTES` (suffixes K, M, G, T)", Value: "10G", EnvVars: []string{"NARDEDUP_CACHE_SIZE"}},
			&cli.StringFlag{Name: "nar-cache-dir", Usage: "keep whole NARs served, once checked, in `DIR` and serve popular ones from there", EnvVars: []string{"NARDEDUP_NAR_CACHE_DIR"}},
			&cli.StringFlag{Name: "nar-cache-size", Usage: "bound of --nar-cache-dir in `BYTES` (suffixes K, M, G, T)", Value: "10G", EnvVars: []string{"NARDEDUP_NAR_CACHE_SIZE"}},
		)...),
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	opts, err := serveOptions(c)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	auth, authLine, err := serveAuth(c, "auth-token", "basic-auth")
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	opts.Auth = auth
	upAuth, upLine, err := serveAuth(c, "upload-token", "upload-basic-auth")
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	maxUpload, err := cache.ParseSize(c.String("max-upload-size"))
	if err != nil {
		return fmt.Errorf("serve: --max-upload-size: %w", err)
	}
	log, reg, err := observe(c)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	be, err := openMetered(c, reg)
	if err != nil {
		return err
	}
	ready := readyCheck(be)
	if be, err = withCache(c, be); err == nil {
		err = registerDiskCache(be, reg)
	}
	if err != nil {
		be.Close()
		return fmt.Errorf("serve: %w", err)
	}
	frames, err := frameCache(c)
	if err != nil {
		be.Close()
		return fmt.Errorf("serve: %w", err)
	}
	pull, err := pullOptions(c)
	if err != nil {
		be.Close()
		return fmt.Errorf("serve: %w", err)
	}
	// A server taking pushes or pulling writes, and so keeps a local
	// index of its own.
	writes := upAuth != nil || pull != nil
	role := "serve"
	if writes {
		role = "serve-push"
	}
	rp, err := repo.Open(c.Context, be, repo.Options{IndexCache: c.String("index-cache"), Role: role,
		Chunks: chunkstore.Options{FrameCache: frames}, ReadOnly: !writes})
	if err != nil {
		if pull != nil {
			return fmt.Errorf("serve: --upstream stores what it pulls and so needs to write the repository: %w", err)
		}
		return err
	}
	defer rp.Close()
	if err := metrics.RegisterFrameCache(reg, rp.Chunks().FrameCacheStats); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	st := rp.NARs()
	if writes {
		ss, err := rp.Chunks().StartSession(c.Context, lease.SessionOptions{Kind: "serve"})
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		defer ss.Close(context.WithoutCancel(c.Context))
	}
	if pull != nil {
		if err := checkUpstreams(c.Context, pull, st.StoreDir(), log); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		pull.Store, pull.Flush = st, rp.Chunks().Flush
		opts.Pull = pull
		authLine += fmt.Sprintf("; pull-through from %d upstreams", len(pull.Upstreams))
	}
	if upAuth != nil {
		opts.Uploads, opts.UploadAuth, opts.MaxUploadSize = st, upAuth, maxUpload
		if opts.UploadRequireSigs, opts.SignKey, err = uploadKeys(c); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		authLine += "; uploads: " + strings.TrimPrefix(upLine, "auth: ")
	} else if c.String("upload-require-sigs") != "" || c.String("sign-key") != "" {
		return errors.New("serve: --upload-require-sigs and --sign-key need --upload-token or --upload-basic-auth")
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return err
	}
	opts.Logger = log
	chunker := rp.Config().Chunks.Chunker
	opts.ReadAPI = &server.ReadAPI{Objects: rp.Backend(), Config: rp.Config().NARs, Chunker: &chunker}
	h := server.New(st, opts)
	if pull != nil {
		if err := metrics.RegisterPull(reg, h.PullStats); err != nil {
			ln.Close()
			return fmt.Errorf("serve: %w", err)
		}
	}
	oh, err := server.Observe(h, server.ObserveOptions{Logger: log, Metrics: reg, Ready: ready})
	if err != nil {
		ln.Close()
		return fmt.Errorf("serve: %w", err)
	}
	stop, err := startMetrics(c, reg, log)
	if err != nil {
		ln.Close()
		return fmt.Errorf("serve: %w", err)
	}
	defer stop()
	log.Info("serving "+c.String("repo"), "url", "http://"+ln.Addr().String(), "auth", authLine, "limits", limitsLine(opts.Limits()))
	return server.Serve(c.Context, ln, oh, server.HTTPOptions{IdleTimeout: c.Duration("idle-timeout")})
}

// readyCheck returns the check of /readyz: a Stat of the repository's
// config on be, which should bypass any local cache.
func readyCheck(be backend.Backend) func(context.Context) error {
	key := layout.Key(layout.Config, "")
	return func(ctx context.Context) error {
		if _, err := be.Stat(ctx, key); err != nil {
			return fmt.Errorf("stat %s on %s: %w", key, be, err)
		}
		return nil
	}
}

// serveOptions returns the server options of serve's flags, but for the
// logger and auth.
func serveOptions(c *cli.Context) (server.Options, error) {
	opts := server.Options{Priority: c.Int("priority"), Compression: c.String("compression"),
		SendTimeout: c.Duration("send-timeout"), MaxConcurrentNARs: c.Int("max-nar-streams"),
		MaxStreamsPerClient: c.Int("max-nar-streams-per-client"), MinRateWindow: c.Duration("min-rate-window"),
		NarInfoMaxAge: maxAgeFlag(c, "narinfo-max-age"), NegativeMaxAge: maxAgeFlag(c, "negative-max-age")}
	if opts.Compression != "zstd" && opts.Compression != "none" {
		return opts, fmt.Errorf("--compression %q: want zstd or none", opts.Compression)
	}
	if w := opts.MinRateWindow; w <= 0 {
		return opts, fmt.Errorf("--min-rate-window %v: want a positive duration", w)
	}
	opts.MinRate = -1
	if v := c.String("min-rate"); strings.TrimSpace(v) != "0" {
		n, err := cache.ParseSize(v)
		if err != nil || n > math.MaxInt32 {
			return opts, fmt.Errorf("--min-rate %q: want a number of bytes a second, optionally with K or M, or 0", v)
		}
		opts.MinRate = int(n)
	}
	if dir := c.String("nar-cache-dir"); dir != "" {
		size, err := cache.ParseSize(c.String("nar-cache-size"))
		if err != nil {
			return opts, fmt.Errorf("--nar-cache-size: %w", err)
		}
		if opts.NARCache, err = server.OpenNARCache(dir, size); err != nil {
			return opts, fmt.Errorf("--nar-cache-dir: %w", err)
		}
	}
	return opts, nil
}

// maxAgeFlag returns a max-age flag as server.Options takes it: 0 on the
// command line means no caching, which Options spells as a negative value.
func maxAgeFlag(c *cli.Context, name string) time.Duration {
	if d := c.Duration(name); d > 0 {
		return d
	}
	return -1
}

// limitsLine says what bounds the server puts on NAR downloads, for the
// startup line.
func limitsLine(l server.Limits) string {
	s := "NAR streams: no bound; "
	if l.MaxConcurrentNARs > 0 {
		s = fmt.Sprintf("NAR streams: %d, %d kept for new clients; ", l.MaxConcurrentNARs, l.ReservedStreams)
	}
	if l.MaxStreamsPerClient > 0 {
		s += fmt.Sprintf("per client: %d; ", l.MaxStreamsPerClient)
	} else {
		s += "per client: no bound; "
	}
	if l.MinRate == 0 {
		return s + "min rate: none"
	}
	return s + fmt.Sprintf("min rate: %g KiB/s over %v", float64(l.MinRate)/1024, l.MinRateWindow)
}

// serveAuth returns the credentials of a token file flag and a basic-auth
// file flag (nil if neither is given) and a line for the operator saying
// what they are. A flag given with an empty value, on the command line or
// through its environment variable, is an error rather than auth turned
// off: an empty variable must not turn a private cache public.
func serveAuth(c *cli.Context, tokenFlag, basicFlag string) (*server.Auth, string, error) {
	for _, name := range []string{tokenFlag, basicFlag} {
		if c.IsSet(name) && c.String(name) == "" {
			return nil, "", fmt.Errorf("--%s is set but empty (check %s): give a FILE, or leave it unset to serve without auth", name, flagEnvVar(c, name))
		}
	}
	tokens, basic := c.String(tokenFlag), c.String(basicFlag)
	if tokens == "" && basic == "" {
		return nil, "auth: off (anyone may read)", nil
	}
	auth := &server.Auth{}
	var what []string
	if tokens != "" {
		if err := auth.LoadTokenFile(tokens); err != nil {
			return nil, "", fmt.Errorf("--%s: %w", tokenFlag, err)
		}
		what = append(what, "bearer tokens from "+tokens)
	}
	if basic != "" {
		if err := auth.LoadBasicFile(basic); err != nil {
			return nil, "", fmt.Errorf("--%s: %w", basicFlag, err)
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

// uploadKeys returns the keys of --upload-require-sigs and --sign-key.
func uploadKeys(c *cli.Context) ([]signature.PublicKey, *signature.SecretKey, error) {
	var pub []signature.PublicKey
	if v := c.String("upload-require-sigs"); v != "" {
		var err error
		if pub, err = signature.ParsePublicKeys(v); err != nil {
			return nil, nil, fmt.Errorf("--upload-require-sigs: %w", err)
		}
	}
	file := c.String("sign-key")
	if file == "" {
		return pub, nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("--sign-key: %w", err)
	}
	sk, err := signature.ParseSecretKey(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, nil, fmt.Errorf("--sign-key %s: %w", file, err)
	}
	return pub, &sk, nil
}

// pullOptions returns the pull-through configuration of the --upstream
// flags, nil without an upstream, the store and flush left to the caller.
func pullOptions(c *cli.Context) (*server.Pull, error) {
	specs := c.StringSlice("upstream")
	if len(specs) == 0 {
		if c.String("upstream-public-keys") != "" {
			return nil, errors.New("--upstream-public-keys needs --upstream")
		}
		return nil, nil
	}
	pull := &server.Pull{NegativeTTL: c.Duration("upstream-negative-ttl")}
	if v := c.String("upstream-public-keys"); v != "" {
		var err error
		if pull.PublicKeys, err = signature.ParsePublicKeys(v); err != nil {
			return nil, fmt.Errorf("--upstream-public-keys: %w", err)
		}
	}
	for _, spec := range specs {
		src, err := openCache(c.Context, spec)
		if err != nil {
			return nil, fmt.Errorf("--upstream %s: %w", spec, err)
		}
		pull.Upstreams = append(pull.Upstreams, src)
	}
	return pull, nil
}

// checkUpstreams fails if an upstream's nix-cache-info names a store
// directory other than storeDir, and logs the upstreams that do not
// answer: they may come up later.
func checkUpstreams(ctx context.Context, pull *server.Pull, storeDir string, log *slog.Logger) error {
	for _, src := range pull.Upstreams {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		text, err := src.CacheInfo(ctx)
		cancel()
		if err != nil {
			log.Warn("upstream does not answer (yet)", "upstream", src.String(), "err", err)
			continue
		}
		if err := ingest.CheckCacheInfo(text, storeDir); err != nil {
			return fmt.Errorf("--upstream %s %w", src, err)
		}
	}
	return nil
}
