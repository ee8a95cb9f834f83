package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	pathpkg "path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nardedup/nardedup/internal/countio"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/remote"
	"github.com/nardedup/nardedup/server"
	"github.com/nardedup/nardedup/source"
)

// DefaultCacheSize is Options.CacheSize when not set.
const DefaultCacheSize = 1 << 30

// Options configure a Proxy.
type Options struct {
	// Upstream is the URL of the nardedup server; credentials in it go
	// out as basic auth.
	Upstream string
	// Token, if not empty, goes to the upstream as a bearer token.
	Token string
	// HTTPClient makes the requests to the upstream (nil:
	// source.HTTPClient()).
	HTTPClient *http.Client
	// CacheSize bounds the bytes of chunks kept (DefaultCacheSize).
	CacheSize int64
	// CacheDir, if not empty, is the directory the chunks are kept in,
	// across restarts; else they are kept in memory. A directory
	// belongs to one process at a time.
	CacheDir string
	// IdleTimeout cuts a download from the upstream that receives
	// nothing for that long (remote.DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MaxPassThrough bounds a NAR file passed through whose size no
	// narinfo gave (DefaultMaxPassThrough).
	MaxPassThrough int64
	Logger         *slog.Logger // nil: slog.Default()
}

// Proxy is an http.Handler serving the binary cache protocol from an
// upstream nardedup server.
type Proxy struct {
	c        *remote.Client
	up       source.Source
	cache    *chunkCache
	log      *slog.Logger
	expected expectations
	maxPass  int64

	mu         sync.Mutex
	plainUntil time.Time // until then the upstream is taken as not nardedup

	passed, served atomic.Int64
}

// plainTTL is how long an upstream without the read API is taken as one
// before it is asked again.
const plainTTL = time.Minute

// plain reports whether the upstream is not nardedup: it has no read API,
// and its NARs are passed through.
func (p *Proxy) plain(ctx context.Context) (bool, error) {
	p.mu.Lock()
	until := p.plainUntil
	p.mu.Unlock()
	if time.Now().Before(until) {
		return true, nil
	}
	_, err := p.c.Info(ctx)
	if errors.Is(err, remote.ErrNotFound) {
		p.mu.Lock()
		p.plainUntil = time.Now().Add(plainTTL)
		p.mu.Unlock()
		return true, nil
	}
	return false, err
}

// New returns a Proxy of opts.Upstream.
func New(opts Options) (*Proxy, error) {
	if opts.HTTPClient == nil {
		opts.HTTPClient = source.HTTPClient()
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.MaxPassThrough <= 0 {
		opts.MaxPassThrough = DefaultMaxPassThrough
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c, err := remote.New(opts.Upstream, remote.Options{HTTPClient: opts.HTTPClient, Token: opts.Token,
		IdleTimeout: opts.IdleTimeout})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	u, err := url.Parse(opts.Upstream)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	hc := opts.HTTPClient
	if opts.Token != "" {
		hc = &http.Client{Transport: bearer{token: opts.Token, next: transportOf(hc)}, Timeout: hc.Timeout}
	}
	cache := newChunkCache(opts.CacheSize)
	if opts.CacheDir != "" {
		if cache, err = openChunkCache(opts.CacheDir, opts.CacheSize); err != nil {
			return nil, err
		}
	}
	return &Proxy{c: c, up: source.NewHTTP(u, hc), cache: cache, log: opts.Logger, maxPass: opts.MaxPassThrough}, nil
}

// bearer adds a bearer token to requests without credentials.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") != "" || r.URL.User != nil {
		return b.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// Upstream returns the upstream's URL without its password.
func (p *Proxy) Upstream() string { return p.c.String() }

// Stats are what the proxy's client did and what its cache holds.
type Stats struct {
	remote.Stats
	CachedChunks  int
	CachedBytes   int64
	EvictedChunks int64 // evicted to stay within the cache's size
	DroppedChunks int64 // found damaged on disk and removed
	PassedBytes   int64 // of NAR files passed through, received
	ServedBytes   int64 // of NARs sent to clients
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	n, b, ev, dr := p.cache.stats()
	return Stats{Stats: p.c.Stats(), CachedChunks: n, CachedBytes: b, EvictedChunks: ev, DroppedChunks: dr,
		PassedBytes: p.passed.Load(), ServedBytes: p.served.Load()}
}

// ServeHTTP routes a request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	path := r.URL.Path
	switch {
	case path == "/nix-cache-info":
		body, err := p.up.CacheInfo(r.Context())
		p.small(w, r, "nix-cache-info", "text/x-nix-cache-info", body, err)
	case strings.HasSuffix(path, ".narinfo") && strings.Count(path, "/") == 1:
		p.serveNarInfo(w, r, strings.TrimSuffix(path[1:], ".narinfo"))
	case isPassThroughPath(path):
		p.serveNAR(w, r, path[1:])
	default:
		http.NotFound(w, r)
	}
}

// small answers with a small object of the upstream, or its error.
func (p *Proxy) small(w http.ResponseWriter, r *http.Request, what, ctype string, body []byte, err error) {
	if err != nil {
		p.fail(w, r, what, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

func (p *Proxy) serveNarInfo(w http.ResponseWriter, r *http.Request, hash string) {
	if !storepath.IsHash(hash) {
		http.NotFound(w, r)
		return
	}
	what := "narinfo " + hash
	plain, err := p.plain(r.Context())
	if err != nil {
		p.fail(w, r, what, err)
		return
	}
	text, err := p.up.NarInfo(r.Context(), hash)
	if err != nil {
		p.fail(w, r, what, err)
		return
	}
	if plain {
		// Passed through unchanged; what it says of its NAR is kept to
		// check the NAR against.
		var x expect
		ni, err := narinfo.Parse(bytes.NewReader(text))
		if err == nil {
			x, err = expectOf(ni)
		}
		if err == nil && !strings.HasPrefix(pathpkg.Base(ni.StorePath), hash+"-") {
			err = fmt.Errorf("narinfo of %s served as %s", ni.StorePath, hash)
		}
		if err != nil {
			p.fail(w, r, what, fmt.Errorf("upstream %s: %w", p.up, err))
			return
		}
		p.expected.put("/"+ni.URL, x)
		p.small(w, r, what, "text/x-nix-narinfo", text, nil)
		return
	}
	info, err := p.c.Info(r.Context())
	if err != nil {
		p.fail(w, r, what, err)
		return
	}
	ni, err := narinfo.ParseStoreDir(bytes.NewReader(text), info.StoreDir)
	var narHash narfmt.Hash
	if err == nil {
		narHash, err = server.PointAtNAR(ni, info.StoreDir, hash)
	}
	if err != nil {
		p.fail(w, r, what, fmt.Errorf("upstream %s: %w", p.c, err))
		return
	}
	// For a NAR without a manifest in the read API, passed through.
	p.expected.put("/"+ni.URL, expect{nar: &sum{narHash, ni.NarSize}, compression: "none"})
	p.small(w, r, what, "text/x-nix-narinfo", []byte(ni.String()), nil)
}

// serveNAR serves the file name (nar/…): rebuilt from chunks when the
// upstream has its manifest, else passed through, checked against what
// its narinfo said or, without one, against the hash its name holds.
func (p *Proxy) serveNAR(w http.ResponseWriter, r *http.Request, name string) {
	what := "NAR " + name
	plain, err := p.plain(r.Context())
	if err != nil {
		p.fail(w, r, what, err)
		return
	}
	x, ok := p.expected.get("/" + name)
	if !ok {
		x, ok = expectOfName(name)
	}
	base, isPlainNAR := strings.CutSuffix(strings.TrimPrefix(name, "nar/"), ".nar")
	narHash, err := narfmt.ParseHash(base)
	if plain || !isPlainNAR || err != nil {
		if !ok {
			p.log.Warn("NAR asked for without its narinfo, and not named by its hash", "path", r.URL.Path, "client", r.RemoteAddr)
			http.NotFound(w, r)
			return
		}
		p.passThrough(w, r, what, name, x)
		return
	}
	m, err := p.c.Manifest(r.Context(), narHash)
	if errors.Is(err, remote.ErrNotFound) {
		if x.nar == nil || x.nar.hash != narHash {
			x = expect{nar: &sum{hash: narHash}, compression: "none"}
		}
		p.passThrough(w, r, what, name, x)
		return
	}
	if err != nil {
		p.fail(w, r, what, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-nix-nar")
	h.Set("Content-Length", strconv.FormatUint(m.NarSize, 10))
	if r.Method == http.MethodHead {
		return
	}
	cw := &countio.Writer{W: w}
	defer func() { p.served.Add(cw.N) }()
	if err := p.c.Fetch(r.Context(), m, cw, p.cache.get, p.cache.add); err != nil {
		p.failAfter(w, r, what, cw.N, err)
	}
}

// failAfter is fail for an answer of which sent bytes went out: with
// some sent, the answer is cut short, so that the client sees it fail.
func (p *Proxy) failAfter(w http.ResponseWriter, r *http.Request, what string, sent int64, err error) {
	if sent == 0 {
		w.Header().Del("Content-Length")
		p.fail(w, r, what, err)
		return
	}
	p.log.Error("answer aborted", "path", r.URL.Path, "client", r.RemoteAddr, "object", what, "sent", sent, "err", err)
	panic(http.ErrAbortHandler)
}

// fail answers 404 for what the upstream lacks, 502 for anything else.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, remote.ErrNotFound) || errors.Is(err, source.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if r.Context().Err() != nil {
		panic(http.ErrAbortHandler)
	}
	p.log.Error("request failed", "path", r.URL.Path, "client", r.RemoteAddr, "object", what, "err", err)
	http.Error(w, "upstream failed", http.StatusBadGateway)
}
