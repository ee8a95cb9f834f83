package proxy_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/proxy"
	"github.com/nardedup/nardedup/server"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	return body
}

// TestProxy substitutes every NAR of the sample through the proxy twice:
// the second time every chunk is cached and no frame is fetched; with a
// cache too small for them, frames are fetched again.
func TestProxy(t *testing.T) {
	be, rp, bucket := testrepo.Sample(t)
	quiet := slog.New(slog.DiscardHandler)
	var frames atomic.Int64
	h := server.New(rp.NARs(), server.Options{Logger: quiet,
		ReadAPI: &server.ReadAPI{Objects: be, Config: rp.Config().NARs}})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, server.ReadAPIPrefix+"frame/") {
			frames.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	defer up.Close()
	files, err := filepath.Glob(filepath.Join(bucket, "*.narinfo"))
	must(t, err)
	for _, tc := range []struct {
		cacheSize int64
		cached    bool
	}{{0, true}, {1024, false}} {
		p, err := proxy.New(proxy.Options{Upstream: up.URL, CacheSize: tc.cacheSize, Logger: quiet})
		must(t, err)
		ps := httptest.NewServer(p)
		for round := range 2 {
			before := frames.Load()
			for _, f := range files {
				hash := strings.TrimSuffix(filepath.Base(f), ".narinfo")
				ni, err := narinfo.Parse(bytes.NewReader(get(t, ps.URL+"/"+hash+".narinfo")))
				must(t, err)
				nar := get(t, ps.URL+"/"+ni.URL)
				narHash, err := ni.NarSHA256()
				must(t, err)
				rc, _, err := rp.NARs().Open(context.Background(), narHash)
				must(t, err)
				want, err := io.ReadAll(rc)
				rc.Close()
				must(t, err)
				if !bytes.Equal(nar, want) {
					t.Fatalf("NAR of %s through the proxy differs", hash)
				}
			}
			fetched := frames.Load() - before
			if round == 1 && (fetched == 0) != tc.cached {
				t.Errorf("cache of %d bytes, second round: %d frames fetched", tc.cacheSize, fetched)
			}
		}
		t.Logf("cache of %d bytes: %+v", tc.cacheSize, p.Stats())
		ps.Close()
	}
}
