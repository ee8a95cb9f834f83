package source

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Timeouts of the HTTP source. A NAR download has no overall deadline
// (it may be large), only an idle timeout between received chunks.
const (
	httpSmallTimeout  = 60 * time.Second // whole request for narinfo, nix-cache-info
	httpHeaderTimeout = 60 * time.Second // waiting for response headers
)

// httpIdleTimeout aborts a NAR download that receives nothing for this long.
var httpIdleTimeout = 2 * time.Minute

var defaultClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = httpHeaderTimeout
	return &http.Client{Transport: t}
}()

// HTTPClient returns the client NewHTTP uses when given none: its
// transport times out connecting and waiting for response headers. Other
// clients of binary caches (package remote) share it.
func HTTPClient() *http.Client { return defaultClient }

// IdleBody returns body, read with a timeout between received chunks:
// when nothing arrives for idle, cancel is called (it should cancel the
// request) and the read fails saying so. Close stops the timer and calls
// cancel.
func IdleBody(body io.ReadCloser, cancel context.CancelFunc, idle time.Duration) io.ReadCloser {
	b := &idleBody{body: body, cancel: cancel, idle: idle}
	b.timer = time.AfterFunc(b.idle, func() { b.fired.Store(true); cancel() })
	return b
}

type httpSource struct {
	smallObjects
	base   *url.URL // no query or fragment, path ends in "/"
	client *http.Client
}

// NewHTTP returns a Source reading the binary cache at base (query and
// fragment are ignored). A nil client means one whose transport times out
// connecting and waiting for response headers. Every request carries the
// caller's ctx; narinfo and nix-cache-info requests also time out after a
// minute, NAR downloads after two minutes without data. 404 and 410
// responses wrap ErrNotFound; any other non-200 status is an error naming it.
//
// A plain HTTP binary cache has no listing: List fails with ErrNoListing.
// Wrap the source with WithHashes (see ListFrom) to give it one.
func NewHTTP(base *url.URL, client *http.Client) Source {
	b := *base
	b.RawQuery, b.Fragment, b.RawFragment, b.ForceQuery = "", "", "", false
	if !strings.HasSuffix(b.Path, "/") {
		b.Path += "/"
		b.RawPath = ""
	}
	if client == nil {
		client = defaultClient
	}
	h := &httpSource{base: &b, client: client}
	h.smallObjects = smallObjects{h}
	return h
}

func (h *httpSource) String() string { return h.base.Redacted() }

func (h *httpSource) List(ctx context.Context, fn func(string) error) error {
	return fmt.Errorf("source: %s: %w", h, ErrNoListing)
}

func (h *httpSource) objectName(name string) string { return h.base.JoinPath(name).Redacted() }

// openObject opens nix-cache-info or a narinfo: the request, body
// included, times out after httpSmallTimeout, and a body announced as
// larger than MaxNarInfoSize is refused unread.
func (h *httpSource) openObject(ctx context.Context, name string) (io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(ctx, httpSmallTimeout)
	resp, err := h.get(ctx, name)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.ContentLength > MaxNarInfoSize {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("source: %s: %w (%d bytes)", h.objectName(name), ErrTooLarge, resp.ContentLength)
	}
	return cancelOnClose{resp.Body, cancel}, nil
}

func (h *httpSource) Open(ctx context.Context, u string) (io.ReadCloser, error) {
	if err := checkURL(u); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	resp, err := h.get(ctx, u)
	if err != nil {
		cancel()
		return nil, err
	}
	return IdleBody(resp.Body, cancel, httpIdleTimeout), nil
}

// get issues a GET for name below the base and checks the status.
func (h *httpSource) get(ctx context.Context, name string) (*http.Response, error) {
	u := h.base.JoinPath(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return nil, fmt.Errorf("source: GET %s: %s: %w", u.Redacted(), resp.Status, ErrNotFound)
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	return nil, fmt.Errorf("source: GET %s: %s: %q", u.Redacted(), resp.Status, strings.TrimSpace(string(snippet)))
}

// cancelOnClose cancels the request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// idleBody cancels the request when no data arrives for idle.
type idleBody struct {
	body   io.ReadCloser
	cancel context.CancelFunc
	idle   time.Duration
	timer  *time.Timer
	fired  atomic.Bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF && b.fired.Load() {
		err = fmt.Errorf("source: no data received for %v: %w", b.idle, err)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	b.cancel()
	return b.body.Close()
}
