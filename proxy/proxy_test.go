package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/proxy"
	"github.com/nardedup/nardedup/repo"
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

// upstream is the sample repository served with the read API, counting
// the frames fetched.
type upstream struct {
	url    string
	rp     *repo.Repo
	files  []string // the narinfos of the sample
	frames atomic.Int64
	// tamper, if set, answers the frame requests.
	tamper atomic.Pointer[func(w http.ResponseWriter, r *http.Request, h http.Handler)]
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	be, rp, bucket := newSample(t)
	u := &upstream{rp: rp, files: narinfos(t, bucket)}
	h := server.New(rp.NARs(), server.Options{Logger: quiet,
		ReadAPI: &server.ReadAPI{Objects: be, Config: rp.Config().NARs}})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, server.ReadAPIPrefix+"frame/") {
			u.frames.Add(1)
			if tp := u.tamper.Load(); tp != nil {
				(*tp)(w, r, h)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	u.url = ts.URL
	return u
}

var newSample = testrepo.Sample

// narinfos returns the narinfo files of bucket.
func narinfos(t *testing.T, bucket string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(bucket, "*.narinfo"))
	must(t, err)
	if len(files) == 0 {
		t.Fatalf("no narinfos in %s", bucket)
	}
	return files
}

var quiet = slog.New(slog.DiscardHandler)

// substitute fetches every NAR of the sample through the proxy at url,
// checks it, and returns the frames the upstream served meanwhile.
func (u *upstream) substitute(t *testing.T, url string) int64 {
	t.Helper()
	before := u.frames.Load()
	for _, f := range u.files {
		hash := strings.TrimSuffix(filepath.Base(f), ".narinfo")
		ni, err := narinfo.Parse(bytes.NewReader(get(t, url+"/"+hash+".narinfo")))
		must(t, err)
		nar := get(t, url+"/"+ni.URL)
		narHash, err := ni.NarSHA256()
		must(t, err)
		rc, _, err := u.rp.NARs().Open(context.Background(), narHash)
		must(t, err)
		want, err := io.ReadAll(rc)
		rc.Close()
		must(t, err)
		if !bytes.Equal(nar, want) {
			t.Fatalf("NAR of %s through the proxy differs", hash)
		}
	}
	return u.frames.Load() - before
}

// TestProxy substitutes every NAR of the sample through the proxy twice:
// the second time every chunk is cached and no frame is fetched; with a
// cache too small for them, frames are fetched again.
func TestProxy(t *testing.T) {
	up := newUpstream(t)
	for _, tc := range []struct {
		cacheSize int64
		cached    bool
	}{{0, true}, {1024, false}} {
		p, err := proxy.New(proxy.Options{Upstream: up.url, CacheSize: tc.cacheSize, Logger: quiet})
		must(t, err)
		ps := httptest.NewServer(p)
		for round := range 2 {
			fetched := up.substitute(t, ps.URL)
			if round == 1 && (fetched == 0) != tc.cached {
				t.Errorf("cache of %d bytes, second round: %d frames fetched", tc.cacheSize, fetched)
			}
		}
		t.Logf("cache of %d bytes: %+v", tc.cacheSize, p.Stats())
		ps.Close()
	}
}

// TestDiskCache keeps the chunks on disk: a proxy started again on the
// directory fetches no frame; one whose files were damaged drops them and
// fetches their frames again, serving right NARs; a small bound holds.
func TestDiskCache(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	run := func(size int64) (int64, proxy.Stats) {
		p, err := proxy.New(proxy.Options{Upstream: up.url, CacheDir: dir, CacheSize: size, Logger: quiet})
		must(t, err)
		ps := httptest.NewServer(p)
		defer ps.Close()
		return up.substitute(t, ps.URL), p.Stats()
	}
	if n, st := run(0); n == 0 || st.CachedChunks == 0 {
		t.Fatalf("first run: %d frames fetched, %+v", n, st)
	}
	// A kill during a write leaves a temporary file: dropped on start.
	stray := filepath.Join(dir, "tmp", "chunk-killed")
	must(t, os.WriteFile(stray, []byte("half a chunk"), 0o644))
	if n, st := run(0); n != 0 {
		t.Fatalf("after a restart: %d frames fetched, %+v", n, st)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatalf("temporary file of a killed write left: %v", err)
	}
	damaged := 0
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || damaged == 3 {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && len(b) > 0 {
			b[len(b)/2] ^= 1
			err = os.WriteFile(p, b, 0o644)
			damaged++
		}
		return err
	}))
	if n, st := run(0); n == 0 || st.DroppedChunks != int64(damaged) {
		t.Fatalf("%d files damaged: %d frames fetched, %+v", damaged, n, st)
	}
	const small = 64 << 10
	_, st := run(small)
	var total int64
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, ierr := d.Info()
			must(t, ierr)
			total += info.Size()
		}
		return err
	}))
	if total > small || st.CachedBytes != total || st.EvictedChunks == 0 {
		t.Fatalf("cache of %d bytes holds %d bytes on disk: %+v", small, total, st)
	}
}

// TestHostileFrames has the upstream answer frames wrong, truncated,
// endless or stalled: no NAR is served whole, the proxy caches nothing
// wrong, and once the upstream is right again every NAR is.
func TestHostileFrames(t *testing.T) {
	up := newUpstream(t)
	p, err := proxy.New(proxy.Options{Upstream: up.url, Logger: quiet, IdleTimeout: 200 * time.Millisecond})
	must(t, err)
	ps := httptest.NewServer(p)
	defer ps.Close()
	answer := func(w http.ResponseWriter, r *http.Request, h http.Handler) []byte {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		return rec.Body.Bytes()
	}
	hostile := map[string]func(w http.ResponseWriter, r *http.Request, h http.Handler){
		"stalled": func(w http.ResponseWriter, r *http.Request, h http.Handler) {
			b := answer(w, r, h)
			w.Write(b[:len(b)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		},
	}
	for name, tp := range tamperings {
		hostile[name] = func(w http.ResponseWriter, r *http.Request, h http.Handler) {
			b := answer(w, r, h)
			w.Header().Del("Content-Length")
			serveTampered(w, b, tp)
		}
	}
	for name, fn := range hostile {
		up.tamper.Store(&fn)
		for _, f := range up.files {
			hash := strings.TrimSuffix(filepath.Base(f), ".narinfo")
			ni, err := narinfo.Parse(bytes.NewReader(get(t, ps.URL+"/"+hash+".narinfo")))
			must(t, err)
			if ni.NarSize == 0 {
				continue
			}
			if _, ok := fetch(t, ps.URL+"/"+ni.URL); ok {
				t.Fatalf("frames %s: NAR %s served whole", name, ni.URL)
			}
		}
	}
	up.tamper.Store(nil)
	up.substitute(t, ps.URL)
}

// TestConcurrentClients has several clients substitute the sample at
// once through a proxy with a disk cache: every NAR comes out right.
func TestConcurrentClients(t *testing.T) {
	up := newUpstream(t)
	p, err := proxy.New(proxy.Options{Upstream: up.url, CacheDir: t.TempDir(), Logger: quiet})
	must(t, err)
	ps := httptest.NewServer(p)
	defer ps.Close()
	type nar struct {
		url  string
		want []byte
	}
	var nars []nar
	for _, f := range up.files {
		hash := strings.TrimSuffix(filepath.Base(f), ".narinfo")
		ni, err := narinfo.Parse(bytes.NewReader(get(t, ps.URL+"/"+hash+".narinfo")))
		must(t, err)
		h, err := ni.NarSHA256()
		must(t, err)
		rc, _, err := up.rp.NARs().Open(context.Background(), h)
		must(t, err)
		want, err := io.ReadAll(rc)
		rc.Close()
		must(t, err)
		nars = append(nars, nar{ps.URL + "/" + ni.URL, want})
	}
	const clients = 4
	errs := make(chan error, clients)
	for c := range clients {
		go func() {
			for i := range nars {
				n := nars[(i+c*len(nars)/clients)%len(nars)]
				resp, err := http.Get(n.url)
				if err != nil {
					errs <- err
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || !bytes.Equal(body, n.want) {
					errs <- fmt.Errorf("client %d: NAR %s differs (%v)", c, n.url, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range clients {
		must(t, <-errs)
	}
	t.Logf("%+v", p.Stats())
}
