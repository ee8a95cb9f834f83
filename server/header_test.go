package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/server"
)

// The header limit is the one documented: 16 KiB of request line and
// headers pass, a few bytes more get 431, although net/http reads 4 KiB
// beyond http.Server.MaxHeaderBytes.
func TestHeaderLimitIsExact(t *testing.T) {
	addr := newRepo(t).serveReal(t, server.Options{}, server.HTTPOptions{})
	head := "GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nX-Pad: "
	pad := func(total int) string { return head + strings.Repeat("a", total-len(head)-4) + "\r\n\r\n" }
	for _, tc := range []struct {
		size int
		want int
	}{
		{16<<10 - 64, http.StatusOK},
		{16<<10 + 64, http.StatusRequestHeaderFieldsTooLarge},
		{20<<10 - 64, http.StatusRequestHeaderFieldsTooLarge},
	} {
		if code := rawStatus(t, addr, pad(tc.size)); code != tc.want {
			t.Errorf("request of %d bytes: status %d; want %d", tc.size, code, tc.want)
		}
	}
}

// "OPTIONS *" is answered like any other request: authentication first.
func TestOptionsStarNeedsAuth(t *testing.T) {
	r := newRepo(t)
	for _, tc := range []struct {
		opts server.Options
		want int
	}{
		{server.Options{Auth: testAuth(t)}, http.StatusUnauthorized},
		{server.Options{}, http.StatusMethodNotAllowed},
	} {
		addr := r.serveReal(t, tc.opts, server.HTTPOptions{})
		if code := rawStatus(t, addr, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"); code != tc.want {
			t.Errorf("OPTIONS * (auth %v): status %d; want %d", tc.opts.Auth != nil, code, tc.want)
		}
	}
}
