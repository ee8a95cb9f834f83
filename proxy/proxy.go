package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

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
	Logger   *slog.Logger // nil: slog.Default()
}

// Proxy is an http.Handler serving the binary cache protocol from an
// upstream nardedup server.
type Proxy struct {
	c     *remote.Client
	up    source.Source
	cache *chunkCache
	log   *slog.Logger
}

// New returns a Proxy of opts.Upstream.
func New(opts Options) (*Proxy, error) {
	if opts.HTTPClient == nil {
		opts.HTTPClient = source.HTTPClient()
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c, err := remote.New(opts.Upstream, remote.Options{HTTPClient: opts.HTTPClient, Token: opts.Token})
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
	return &Proxy{c: c, up: source.NewHTTP(u, hc), cache: cache, log: opts.Logger}, nil
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
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	n, b, ev, dr := p.cache.stats()
	return Stats{Stats: p.c.Stats(), CachedChunks: n, CachedBytes: b, EvictedChunks: ev, DroppedChunks: dr}
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
	case strings.HasPrefix(path, "/nar/") && strings.HasSuffix(path, ".nar") && strings.Count(path, "/") == 2:
		p.serveNAR(w, r, strings.TrimSuffix(path[len("/nar/"):], ".nar"))
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
	info, err := p.c.Info(r.Context())
	if err != nil {
		p.fail(w, r, what, err)
		return
	}
	text, err := p.up.NarInfo(r.Context(), hash)
	if err != nil {
		p.fail(w, r, what, err)
		return
	}
	ni, err := narinfo.ParseStoreDir(bytes.NewReader(text), info.StoreDir)
	if err == nil {
		_, err = server.PointAtNAR(ni, info.StoreDir, hash)
	}
	if err != nil {
		p.fail(w, r, what, fmt.Errorf("upstream %s: %w", p.c, err))
		return
	}
	p.small(w, r, what, "text/x-nix-narinfo", []byte(ni.String()), nil)
}

func (p *Proxy) serveNAR(w http.ResponseWriter, r *http.Request, name string) {
	narHash, err := narfmt.ParseHash(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	what := "NAR " + name
	m, err := p.c.Manifest(r.Context(), narHash)
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
	cw := &countingWriter{w: w}
	if err := p.c.Fetch(r.Context(), m, cw, p.cache.get, p.cache.add); err != nil {
		if cw.n == 0 {
			h.Del("Content-Length")
			p.fail(w, r, what, err)
			return
		}
		p.log.Error("NAR aborted", "path", r.URL.Path, "client", r.RemoteAddr, "sent", cw.n, "err", err)
		panic(http.ErrAbortHandler)
	}
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

type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
