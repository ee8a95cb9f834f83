package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/proxy"
	"github.com/nardedup/nardedup/server"
)

// fetch returns the body of url and whether it came whole with 200.
func fetch(t *testing.T, url string) ([]byte, bool) {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return body, err == nil && resp.StatusCode == http.StatusOK
}

// tamperings are what a hostile upstream does to a NAR file.
var tamperings = map[string]func([]byte) []byte{
	"flipped": func(b []byte) []byte {
		b = bytes.Clone(b)
		b[len(b)/2] ^= 1
		return b
	},
	"truncated": func(b []byte) []byte { return b[:len(b)-1] },
	"longer":    func(b []byte) []byte { return append(bytes.Clone(b), 0) },
	"endless":   nil, // never ends
}

// serveTampered answers with tamper(body) (an endless stream for nil).
func serveTampered(w http.ResponseWriter, body []byte, tamper func([]byte) []byte) {
	if tamper == nil {
		w.Write(body)
		zeros := make([]byte, 64<<10)
		for {
			if _, err := w.Write(zeros); err != nil {
				return
			}
		}
	}
	w.Write(tamper(body))
}

// TestPassThrough puts the proxy in front of a plain binary cache (the
// sample's bucket as files): narinfos and NARs come through unchanged,
// with or without the narinfo asked for first; a NAR file the upstream
// damages is never served whole.
func TestPassThrough(t *testing.T) {
	up := newUpstream(t)
	bucket := filepath.Dir(up.files[0])
	var tamper atomic.Pointer[func([]byte) []byte]
	files := http.FileServer(http.Dir(bucket))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tp := tamper.Load(); tp != nil && strings.HasPrefix(r.URL.Path, "/nar/") {
			body, err := os.ReadFile(filepath.Join(bucket, filepath.FromSlash(r.URL.Path)))
			must(t, err)
			serveTampered(w, body, *tp)
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer ts.Close()
	var urls []string
	p, err := proxy.New(proxy.Options{Upstream: ts.URL, Logger: quiet})
	must(t, err)
	ps := httptest.NewServer(p)
	defer ps.Close()
	for _, f := range up.files {
		hash := strings.TrimSuffix(filepath.Base(f), ".narinfo")
		text := get(t, ps.URL+"/"+hash+".narinfo")
		want, err := os.ReadFile(f)
		must(t, err)
		if !bytes.Equal(text, want) {
			t.Fatalf("narinfo %s changed on its way through:\n%s", hash, text)
		}
		ni, err := narinfo.Parse(bytes.NewReader(text))
		must(t, err)
		file, err := os.ReadFile(filepath.Join(bucket, ni.URL))
		must(t, err)
		if got := get(t, ps.URL+"/"+ni.URL); !bytes.Equal(got, file) {
			t.Fatalf("NAR file %s changed on its way through", ni.URL)
		}
		urls = append(urls, ni.URL)
	}
	st := p.Stats()
	if st.Frames != 0 || st.PassedBytes == 0 || st.PassedBytes != st.ServedBytes {
		t.Fatalf("stats: %+v", st)
	}
	// A proxy that never saw the narinfos checks the hash in the name.
	fresh, err := proxy.New(proxy.Options{Upstream: ts.URL, Logger: quiet, MaxPassThrough: 16 << 20})
	must(t, err)
	fs := httptest.NewServer(fresh)
	defer fs.Close()
	for _, u := range urls {
		get(t, fs.URL+"/"+u)
	}
	for name, tp := range tamperings {
		tamper.Store(&tp)
		for _, base := range []string{ps.URL, fs.URL} {
			for _, u := range urls {
				if _, ok := fetch(t, base+"/"+u); ok {
					t.Fatalf("%s NAR file %s served whole", name, u)
				}
			}
		}
	}
}

// TestPassThroughNoManifest has a nardedup upstream whose read API lacks
// every manifest: the plain NARs are passed through, checked against
// their NarHash.
func TestPassThroughNoManifest(t *testing.T) {
	be, rp, bucket := newSample(t)
	_ = bucket
	h := server.New(rp.NARs(), server.Options{Logger: quiet,
		ReadAPI: &server.ReadAPI{Objects: be, Config: rp.Config().NARs}})
	var tamper atomic.Pointer[func([]byte) []byte]
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, server.ReadAPIPrefix+"manifest/"):
			http.NotFound(w, r)
			return
		case strings.HasPrefix(r.URL.Path, "/nar/") && tamper.Load() != nil:
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			serveTampered(w, rec.Body.Bytes(), *tamper.Load())
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	up := &upstream{rp: rp, files: narinfos(t, bucket)}
	p, err := proxy.New(proxy.Options{Upstream: ts.URL, Logger: quiet})
	must(t, err)
	ps := httptest.NewServer(p)
	defer ps.Close()
	up.substitute(t, ps.URL)
	if st := p.Stats(); st.Frames != 0 || st.PassedBytes == 0 || st.ManifestBytes != 0 {
		t.Fatalf("stats: %+v", st)
	}
	for name, tp := range tamperings {
		tamper.Store(&tp)
		for _, f := range up.files {
			hash := strings.TrimSuffix(filepath.Base(f), ".narinfo")
			ni, err := narinfo.Parse(bytes.NewReader(get(t, ps.URL+"/"+hash+".narinfo")))
			must(t, err)
			if _, ok := fetch(t, ps.URL+"/"+ni.URL); ok {
				t.Fatalf("%s NAR %s served whole", name, ni.URL)
			}
		}
	}
}
