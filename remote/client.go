package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nardedup/nardedup/chunkstore/forward"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/pathstrip"
	"github.com/nardedup/nardedup/server"
	"github.com/nardedup/nardedup/source"
)

// Defaults of Options.
const (
	DefaultIdleTimeout  = 2 * time.Minute
	DefaultSmallTimeout = time.Minute
	// MaxManifestSize bounds a manifest answer.
	MaxManifestSize = 64 << 20
	// maxInfoSize bounds the info document.
	maxInfoSize = 64 << 10
	// maxNarInfoPageSize bounds a page of the narinfo list: the largest
	// page, a quoted hash and a comma each, and some slack.
	maxNarInfoPageSize = server.MaxNarInfoPage*(storepath.HashLen+3) + 1<<10
)

// ErrNotFound is wrapped by errors about an object the server does not
// hold (404 or 410).
var ErrNotFound = errors.New("remote: not found")

// ErrCorrupt is wrapped by errors about data the server sent that is not
// what was asked for: a chunk whose bytes do not match its id, a frame
// that does not decode, an answer of the wrong length, a NAR whose hash
// does not match.
var ErrCorrupt = pack.ErrCorrupt

// Options configure a Client.
type Options struct {
	// HTTPClient makes the requests, with its transport's TLS settings;
	// nil means source.HTTPClient().
	HTTPClient *http.Client
	// Token, if not empty, goes out as a bearer token.
	Token string
	// IdleTimeout cuts a frame download that receives nothing for that
	// long (DefaultIdleTimeout).
	IdleTimeout time.Duration
	// SmallTimeout bounds the whole request of the info document, a
	// manifest or a forward record (DefaultSmallTimeout).
	SmallTimeout time.Duration
}

// Have returns the bytes of chunk id if the caller holds them. They are
// checked against id before use; a chunk that does not match is fetched.
// Fetch calls it from a goroutine of its own, one call at a time; the
// bytes it returns must not change until Fetch returns.
type Have func(id pack.ID) ([]byte, bool)

// Got is given every chunk that Fetch cut from a fetched frame, checked
// against its id, so that the caller may keep it (a local cache, a
// mirror). The bytes are valid only during the call.
type Got func(id pack.ID, data []byte)

// Stats count what a Client did.
type Stats struct {
	Requests       int64 // HTTP requests sent
	BytesReceived  int64 // bodies of successful answers
	ManifestBytes  int64 // of which manifests
	FrameBytes     int64 // of which frames
	Frames         int64 // frames fetched
	FramesShared   int64 // frames a concurrent fetch fetched for this one
	ChunksHeld     int64 // chunks taken from Have
	ChunksFetched  int64 // chunks cut from fetched frames
	ForwardRecords int64 // forward records fetched
}

// Client reads NARs from a server's read API. It is safe for concurrent
// use.
type Client struct {
	base  *url.URL // path ends in "/", query and fragment dropped
	hc    *http.Client
	token string
	idle  time.Duration
	small time.Duration
	dec   *zstd.Decoder

	mu   sync.Mutex
	info *server.Info // once fetched

	flightMu sync.Mutex
	flights  map[string]*flight // frames being fetched, by name

	requests, received, frames, held, fetched, records atomic.Int64
	manifestBytes, frameBytes, shared                  atomic.Int64
}

// New returns a Client of the server at base, an http:// or https:// URL.
func New(base string, opts Options) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("remote: %s: want an http:// or https:// URL", u.Redacted())
	}
	u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = "", "", "", false
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	if opts.HTTPClient == nil {
		opts.HTTPClient = source.HTTPClient()
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.SmallTimeout <= 0 {
		opts.SmallTimeout = DefaultSmallTimeout
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(pack.MaxFrameSize), zstd.WithDecoderMaxWindow(pack.MaxFrameSize))
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	return &Client{base: u, hc: opts.HTTPClient, token: opts.Token, idle: opts.IdleTimeout,
		small: opts.SmallTimeout, dec: dec, flights: make(map[string]*flight)}, nil
}

// String returns the server's URL without its password.
func (c *Client) String() string { return c.base.Redacted() }

// Stats returns what the client did so far.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.requests.Load(), BytesReceived: c.received.Load(),
		ManifestBytes: c.manifestBytes.Load(), FrameBytes: c.frameBytes.Load(), Frames: c.frames.Load(),
		FramesShared: c.shared.Load(), ChunksHeld: c.held.Load(), ChunksFetched: c.fetched.Load(),
		ForwardRecords: c.records.Load()}
}

// Info returns the server's info document, fetched on the first call. It
// fails for a server that does not speak this client's version of the
// read API.
func (c *Client) Info(ctx context.Context) (*server.Info, error) {
	c.mu.Lock()
	info := c.info
	c.mu.Unlock()
	if info != nil {
		return info, nil
	}
	body, err := c.get(ctx, "info", "info", maxInfoSize, false)
	if err != nil {
		return nil, err
	}
	info = &server.Info{}
	if err := json.Unmarshal(body, info); err != nil {
		return nil, fmt.Errorf("%w: remote: %s: info: %v", ErrCorrupt, c, err)
	}
	if info.Version != server.ReadAPIVersion {
		return nil, fmt.Errorf("remote: %s speaks version %d of the read API, this client %d",
			c, info.Version, server.ReadAPIVersion)
	}
	c.mu.Lock()
	c.info = info
	c.mu.Unlock()
	return info, nil
}

// stripOptions returns how the server's manifests cut store paths.
func (c *Client) stripOptions(ctx context.Context) (pathstrip.Options, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return pathstrip.Options{}, err
	}
	opt, err := narstore.Config{StoreDir: info.StoreDir, Strip: info.Strip}.StripOptions()
	if err != nil {
		return opt, fmt.Errorf("remote: %s: info: %w", c, err)
	}
	return opt, nil
}

// Manifest returns the manifest of the NAR with this SHA-256, with its
// chunks' locations. A server without it, or whose manifest has no
// locations, answers with an error wrapping ErrNotFound: the caller may
// fetch the NAR itself instead.
func (c *Client) Manifest(ctx context.Context, narHash narfmt.Hash) (*narstore.Manifest, error) {
	name := narHash.String()
	what := "manifest " + name
	body, err := c.get(ctx, what, "manifest/"+name, MaxManifestSize, false)
	if err != nil {
		return nil, err
	}
	c.manifestBytes.Add(int64(len(body)))
	m, err := narstore.DecodeManifest(body, pathstrip.DefaultMaxPaths)
	switch {
	case err != nil:
		return nil, fmt.Errorf("remote: %s: %s: %w", c, what, err)
	case m.NarHash != narHash:
		return nil, fmt.Errorf("%w: remote: %s: %s is that of NAR sha256:%s", ErrCorrupt, c, what, m.NarHash.String())
	case m.Locations == nil:
		return nil, fmt.Errorf("%w: remote: %s: %s has no chunk locations", ErrCorrupt, c, what)
	}
	return m, nil
}

// FetchNAR writes the NAR with this SHA-256 to w, fetching its manifest
// and the chunks have lacks, and returns the manifest. See Fetch.
func (c *Client) FetchNAR(ctx context.Context, narHash narfmt.Hash, w io.Writer, have Have, got Got) (*narstore.Manifest, error) {
	m, err := c.Manifest(ctx, narHash)
	if err != nil {
		return nil, err
	}
	return m, c.Fetch(ctx, m, w, have, got)
}

// Fetch writes the NAR that m describes to w: every chunk that have (which
// may be nil) holds is taken from it, the others are cut from the frames
// their locations name, fetched from the server, and handed to got (which
// may be nil) once checked. The first call of a Client also fetches the
// info document. If it fails, w has
// received a prefix of the NAR at most, never all of it; the error names
// the object that failed.
func (c *Client) Fetch(ctx context.Context, m *narstore.Manifest, w io.Writer, have Have, got Got) error {
	opt, err := c.stripOptions(ctx)
	if err != nil {
		return err
	}
	if have == nil {
		have = func(pack.ID) ([]byte, bool) { return nil, false }
	}
	if got == nil {
		got = func(pack.ID, []byte) {}
	}
	f := &fetch{c: c, have: have, got: got, records: make(map[pack.ID]*forward.Record)}
	rc, err := narstore.Rebuild(ctx, m, opt, f.open)
	if err != nil {
		return fmt.Errorf("remote: %s: %w", c, err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		if errors.Is(err, narstore.ErrCorrupt) && !errors.Is(err, ErrCorrupt) {
			// A NAR that does not rebuild from right chunks: the
			// manifest is wrong.
			return fmt.Errorf("%w: remote: %s: NAR sha256:%s: %w", ErrCorrupt, c, m.NarHash.String(), err)
		}
		return fmt.Errorf("remote: %s: NAR sha256:%s: %w", c, m.NarHash.String(), err)
	}
	return nil
}

// get fetches name (with a query after "?") below the read API's
// prefix, an answer of at most max
// bytes (exactly max if exact). A small request is bounded in time as a
// whole, others only between received bytes.
func (c *Client) get(ctx context.Context, what, name string, max int64, exact bool) ([]byte, error) {
	name, query, _ := strings.Cut(name, "?")
	u := c.base.JoinPath(server.ReadAPIPrefix + name)
	u.RawQuery = query
	fail := func(format string, args ...any) error {
		return fmt.Errorf("remote: GET %s (%s): "+format, append([]any{u.Redacted(), what}, args...)...)
	}
	var cancel context.CancelFunc
	if exact {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, c.small)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return nil, fail("%w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	c.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		cancel()
		return nil, fail("%w", err)
	}
	body := source.IdleBody(resp.Body, cancel, c.idle)
	defer body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fail("%s: %w", resp.Status, ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		snippet, _ := io.ReadAll(io.LimitReader(body, 200))
		return nil, fail("%s: %q", resp.Status, strings.TrimSpace(string(snippet)))
	case resp.ContentLength > max || exact && resp.ContentLength >= 0 && resp.ContentLength != max:
		return nil, fail("%w: announces %d bytes for %d", ErrCorrupt, resp.ContentLength, max)
	}
	data, err := io.ReadAll(io.LimitReader(body, max+1))
	c.received.Add(int64(len(data)))
	switch {
	case err != nil:
		return nil, fail("after %d bytes: %w", len(data), err)
	case int64(len(data)) > max:
		return nil, fail("%w: longer than %d bytes", ErrCorrupt, max)
	case exact && int64(len(data)) != max:
		return nil, fail("%w: %d bytes, want %d", ErrCorrupt, len(data), max)
	}
	return data, nil
}

// NarInfos returns a page of the store path hashes of the server's
// narinfos, sorted, all greater than after (from the start if empty), and
// whether more may follow the last one. A page holds at most limit hashes
// (the server's default if 0).
func (c *Client) NarInfos(ctx context.Context, after string, limit int) ([]string, bool, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	name := "narinfos"
	if len(q) > 0 {
		name += "?" + q.Encode()
	}
	what := "narinfo list after " + strconv.Quote(after)
	body, err := c.get(ctx, what, name, maxNarInfoPageSize, false)
	if err != nil {
		return nil, false, err
	}
	var page server.NarInfoPage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, false, fmt.Errorf("%w: remote: %s: %s: %v", ErrCorrupt, c, what, err)
	}
	prev := after
	for _, h := range page.Hashes {
		if !storepath.IsHash(h) || h <= prev {
			return nil, false, fmt.Errorf("%w: remote: %s: %s: %q is not a hash after %q", ErrCorrupt, c, what, h, prev)
		}
		prev = h
	}
	if limit > 0 && len(page.Hashes) > limit || page.More && len(page.Hashes) == 0 {
		return nil, false, fmt.Errorf("%w: remote: %s: %s: %d hashes, more %v", ErrCorrupt, c, what, len(page.Hashes), page.More)
	}
	return page.Hashes, page.More, nil
}

// NarInfo returns the narinfo of store path hash as the server stored it.
func (c *Client) NarInfo(ctx context.Context, hash string) ([]byte, error) {
	if !storepath.IsHash(hash) {
		return nil, fmt.Errorf("remote: %q is not a store path hash", hash)
	}
	return c.get(ctx, "narinfo "+hash, "narinfo/"+hash, narstore.MaxNarInfoSize, false)
}
