package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/server"
)

func doWith(h http.Handler, method, path string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestCacheControl(t *testing.T) {
	f, h, _ := newFake(t)
	nar := "/nar/" + h.String() + ".nar"
	narinfo := "/" + fakeHash + ".narinfo"
	unknown := "/" + strings.Repeat("0", 32) + ".narinfo"
	tests := []struct {
		name   string
		opts   server.Options
		method string
		path   string
		status int
		want   string
	}{
		{"NAR", server.Options{}, "GET", nar, 200, "public, max-age=31536000, immutable"},
		{"compressed NAR", server.Options{}, "GET", nar + ".zst", 200, "public, max-age=31536000, immutable"},
		{"NAR HEAD", server.Options{}, "HEAD", nar, 200, "public, max-age=31536000, immutable"},
		{"narinfo", server.Options{}, "GET", narinfo, 200, "public, max-age=3600"},
		{"narinfo max-age", server.Options{NarInfoMaxAge: 30 * time.Second}, "GET", narinfo, 200, "public, max-age=30"},
		{"narinfo no max-age", server.Options{NarInfoMaxAge: -1}, "GET", narinfo, 200, "public, no-cache"},
		{"nix-cache-info", server.Options{NarInfoMaxAge: 30 * time.Second}, "GET", "/nix-cache-info", 200, "public, max-age=30"},
		{"unknown narinfo", server.Options{}, "GET", unknown, 404, "public, max-age=60"},
		{"unknown NAR", server.Options{NegativeMaxAge: 5 * time.Second}, "GET", "/nar/" + narfmt.Hash{1}.String() + ".nar", 404, "public, max-age=5"},
		{"unknown route", server.Options{}, "GET", "/nope", 404, "public, max-age=60"},
		{"POST", server.Options{}, "POST", narinfo, 405, "no-store"},
		{"with auth", server.Options{Auth: tokenAuth("t")}, "GET", narinfo, 401, "no-store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Logger = quiet
			rec := do(server.New(f, tt.opts), tt.method, tt.path)
			if rec.Code != tt.status {
				t.Fatalf("%s %s: got status %d; want %d", tt.method, tt.path, rec.Code, tt.status)
			}
			if got := rec.Header().Get("Cache-Control"); got != tt.want {
				t.Errorf("%s %s: got Cache-Control %q; want %q", tt.method, tt.path, got, tt.want)
			}
		})
	}

	srv := server.New(f, server.Options{Logger: quiet, Auth: tokenAuth("t")})
	rec := doWith(srv, "GET", nar, "Authorization", "Bearer t")
	if got, want := rec.Header().Get("Cache-Control"), "max-age=31536000, immutable"; rec.Code != 200 || got != want {
		t.Errorf("NAR with auth: got %d with Cache-Control %q; want 200 with %q", rec.Code, got, want)
	}

	f.openErr = fmt.Errorf("chunk gone: %w", narstore.ErrCorrupt)
	rec = do(server.New(f, server.Options{Logger: quiet}), "GET", nar)
	if got := rec.Header().Get("Cache-Control"); rec.Code != 500 || got != "no-store" {
		t.Errorf("failing NAR: got %d with Cache-Control %q; want 500 with no-store", rec.Code, got)
	}
}

func TestConditionalGet(t *testing.T) {
	f, h, nar := newFake(t)
	srv := server.New(f, server.Options{Logger: quiet, Compression: "none"})
	narPath := "/nar/" + h.String() + ".nar"
	narinfo := "/" + fakeHash + ".narinfo"
	etags := map[string]string{}
	for _, p := range []string{narPath, narPath + ".zst", narinfo, "/nix-cache-info"} {
		rec := do(srv, "GET", p)
		etags[p] = rec.Header().Get("ETag")
		if rec.Code != 200 || etags[p] == "" {
			t.Fatalf("GET %s: got %d with ETag %q; want 200 with an ETag", p, rec.Code, etags[p])
		}
	}
	if want := `"` + h.String() + `"`; etags[narPath] != want {
		t.Errorf("NAR ETag %q; want %q", etags[narPath], want)
	}
	if !strings.HasPrefix(etags[narPath+".zst"], "W/") {
		t.Errorf("compressed NAR ETag %q; want a weak one", etags[narPath+".zst"])
	}

	date := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name   string
		method string
		path   string
		header []string
		status int
	}{
		{"NAR etag", "GET", narPath, []string{"If-None-Match", etags[narPath]}, 304},
		{"NAR etag HEAD", "HEAD", narPath, []string{"If-None-Match", etags[narPath]}, 304},
		{"NAR etag in list", "GET", narPath, []string{"If-None-Match", `"x", W/` + etags[narPath]}, 304},
		{"NAR star", "GET", narPath, []string{"If-None-Match", "*"}, 304},
		{"NAR other etag", "GET", narPath, []string{"If-None-Match", `"x"`}, 200},
		{"NAR modified since", "GET", narPath, []string{"If-Modified-Since", date}, 304},
		{"NAR bad date", "GET", narPath, []string{"If-Modified-Since", "yesterday"}, 200},
		{"compressed NAR etag", "GET", narPath + ".zst", []string{"If-None-Match", etags[narPath+".zst"]}, 304},
		{"narinfo etag", "GET", narinfo, []string{"If-None-Match", etags[narinfo]}, 304},
		{"narinfo old etag", "GET", narinfo, []string{"If-None-Match", etags[narPath]}, 200},
		{"narinfo modified since", "GET", narinfo, []string{"If-Modified-Since", date}, 200},
		{"nix-cache-info etag", "GET", "/nix-cache-info", []string{"If-None-Match", etags["/nix-cache-info"]}, 304},
		{"deleted NAR", "GET", "/nar/" + narfmt.Hash{1}.String() + ".nar", []string{"If-None-Match", "*"}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := doWith(srv, tt.method, tt.path, tt.header...)
			if rec.Code != tt.status {
				t.Fatalf("%s %s %q: got status %d; want %d", tt.method, tt.path, tt.header, rec.Code, tt.status)
			}
			if tt.status != 304 {
				if tt.status == 200 && tt.path == narPath && rec.Body.String() != string(nar) {
					t.Errorf("%s %s: got a body of %d bytes; want the NAR", tt.method, tt.path, rec.Body.Len())
				}
				return
			}
			if rec.Body.Len() != 0 {
				t.Errorf("304 with a body of %d bytes", rec.Body.Len())
			}
			if rec.Header().Get("ETag") != etags[tt.path] || rec.Header().Get("Cache-Control") == "" {
				t.Errorf("304 headers %v; want the ETag %s and Cache-Control", rec.Header(), etags[tt.path])
			}
		})
	}
}

func tokenAuth(token string) *server.Auth {
	a := &server.Auth{}
	a.AddToken(token)
	return a
}
