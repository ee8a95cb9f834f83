package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

type httpSource struct {
	base   *url.URL
	client *http.Client
}

// NewHTTP returns a Source reading the binary cache at base.
func NewHTTP(base *url.URL, client *http.Client) Source {
	return &httpSource{base: base, client: client}
}

var errHTTPPending = errors.New("source: HTTP source not implemented yet")

func (h *httpSource) String() string { return h.base.Redacted() }
func (h *httpSource) CacheInfo(ctx context.Context) ([]byte, error) {
	return nil, errHTTPPending
}
func (h *httpSource) List(ctx context.Context, fn func(string) error) error {
	return fmt.Errorf("source: %s: %w", h, ErrNoListing)
}
func (h *httpSource) NarInfo(ctx context.Context, hash string) ([]byte, error) {
	return nil, errHTTPPending
}
func (h *httpSource) Open(ctx context.Context, u string) (io.ReadCloser, error) {
	return nil, errHTTPPending
}
