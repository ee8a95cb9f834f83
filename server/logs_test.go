package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/internal/testrepo"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	testDrv         = "0apnlz8jhs8s3wyagsncrsq0mlj0v822-libpsl-0.21.2.drv"
	testRealisation = "sha256:1d7b5ac3f7ae3a0f7e9b4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e!out"
)

// testLog returns n bytes of build log text.
func testLog(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "building step %d: gcc -O2 -c file%d.c\n", i, i*7919)
	}
	return b.Bytes()[:n]
}

// observedPushTarget serves an empty repository taking uploads, with
// the metrics of Observe in reg.
func observedPushTarget(t *testing.T, maxUpload int64) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	dir := t.TempDir()
	be, err := local.Open(filepath.Join(dir, "repo"))
	check(t, err)
	t.Cleanup(func() { be.Close() })
	rp := testrepo.Open(t, be, nrepo.DefaultConfig(), filepath.Join(dir, "index.db"))
	opts, _ := loggingOptions()
	opts.Uploads = rp.NARs()
	opts.UploadAuth = &server.Auth{}
	opts.UploadAuth.AddToken(uploadToken)
	opts.MaxUploadSize = maxUpload
	reg := prometheus.NewRegistry()
	h, err := server.Observe(server.New(rp.NARs(), opts), server.ObserveOptions{Logger: opts.Logger, Metrics: reg})
	check(t, err)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts, reg
}

// TestPushLogAndRealisation pushes a build log (bigger than a write
// buffer), a realisation and a listing as Nix 2.8 sends them, reads the
// first two back byte for byte, and checks the upload counters.
func TestPushLogAndRealisation(t *testing.T) {
	ts, reg := observedPushTarget(t, 1<<20)
	p := &pushTarget{ts: ts}
	logText := testLog(300 << 10)
	real := []byte(`{"dependentRealisations":{},"id":"` + testRealisation + `","outPath":"fhily0sc65qfd5891rvrsg6ly48smv29-glibc-2.35","signatures":[]}`)
	for _, c := range []struct {
		path string
		body []byte
	}{
		{"/log/" + testDrv, logText},
		{"/realisations/" + testRealisation + ".doi", real},
		{"/fhily0sc65qfd5891rvrsg6ly48smv29.ls", []byte(`{"version":1,"root":{"type":"regular","size":0}}`)},
	} {
		if code, msg := p.put(t, c.path, c.body, uploadToken); code != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", c.path, code, msg)
		}
	}
	for path, want := range map[string][]byte{"/log/" + testDrv: logText, "/realisations/" + testRealisation + ".doi": real} {
		resp, body, err := fetch(t, http.MethodGet, ts.URL+path)
		check(t, err)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
			t.Errorf("GET %s: %d, %d bytes; want 200 and the %d bytes pushed", path, resp.StatusCode, len(body), len(want))
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=3600" {
			t.Errorf("GET %s: Cache-Control %q, want the narinfo's", path, cc)
		}
		resp, body, err = fetch(t, http.MethodHead, ts.URL+path)
		check(t, err)
		if resp.StatusCode != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD %s: %d with %d bytes", path, resp.StatusCode, len(body))
		}
	}
	for _, path := range []string{"/log/1apnlz8jhs8s3wyagsncrsq0mlj0v822-other.drv", "/realisations/" + strings.Replace(testRealisation, "!out", "!dev", 1) + ".doi"} {
		resp, _, err := fetch(t, http.MethodGet, ts.URL+path)
		check(t, err)
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Cache-Control") != "public, max-age=60" {
			t.Errorf("GET %s (missing): %d %q, want 404 cacheable like a miss", path, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
	want := fmt.Sprintf(`
# HELP nardedup_upload_bytes_total Request body bytes of uploads received, by kind.
# TYPE nardedup_upload_bytes_total counter
nardedup_upload_bytes_total{kind="log"} %d
nardedup_upload_bytes_total{kind="ls"} 48
nardedup_upload_bytes_total{kind="nar"} 0
nardedup_upload_bytes_total{kind="narinfo"} 0
nardedup_upload_bytes_total{kind="other"} 0
nardedup_upload_bytes_total{kind="realisation"} %d
`, len(logText), len(real))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "nardedup_upload_bytes_total"); err != nil {
		t.Error(err)
	}
	for kind, n := range map[string]float64{"log": 1, "realisation": 1, "ls": 1} {
		if got := testutil.ToFloat64(uploadsCounter(t, reg, kind, "ok")); got != n {
			t.Errorf("uploads{kind=%s,result=ok} = %v, want %v", kind, got, n)
		}
	}
}

// uploadsCounter returns the collector of one nardedup_uploads_total
// series.
func uploadsCounter(t *testing.T, reg *prometheus.Registry, kind, result string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	check(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "nardedup_uploads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["result"] == result {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, m.GetCounter().GetValue)
			}
		}
	}
	t.Fatalf("no nardedup_uploads_total{kind=%q,result=%q}", kind, result)
	return nil
}

// TestPushLogRefusals sends hostile and oversized build logs and
// realisations: each gets a 4xx saying why, counted as refused, and
// nothing is stored.
func TestPushLogRefusals(t *testing.T) {
	ts, reg := observedPushTarget(t, 64<<10)
	p := &pushTarget{ts: ts}
	for _, c := range []struct {
		path  string
		body  []byte
		token string
		code  int
		why   string
	}{
		{"/log/" + testDrv, []byte("x"), "", http.StatusUnauthorized, ""},
		{"/log/" + testDrv, testLog(100 << 10), uploadToken, http.StatusRequestEntityTooLarge, "larger than 65536 bytes"},
		{"/log/libpsl.drv", []byte("x"), uploadToken, http.StatusBadRequest, "invalid name"},
		{"/log/0apnlz8jhs8s3wyagsncrsq0mlj0v822-libpsl", []byte("x"), uploadToken, http.StatusBadRequest, "not a derivation"},
		{"/log/..%2f..%2fconfig", []byte("x"), uploadToken, http.StatusNotFound, "uploads go to"},
		{"/log/%2e%2e", []byte("x"), uploadToken, http.StatusBadRequest, "invalid name"},
		{"/realisations/sha256:abc!out.doi", []byte("{}"), uploadToken, http.StatusBadRequest, "want sha256:<64 hex digits>!<output name>"},
		{"/realisations/" + testRealisation + ".doi", []byte("not json"), uploadToken, http.StatusBadRequest, "not a JSON object"},
		{"/realisations/" + testRealisation + ".doi", bytes.Repeat([]byte(" "), 70<<10), uploadToken, http.StatusRequestEntityTooLarge, "larger than"},
		{"/notahash.ls", []byte("{}"), uploadToken, http.StatusBadRequest, "not a store path hash"},
	} {
		code, msg := p.put(t, c.path, c.body, c.token)
		if code != c.code || !strings.Contains(msg, c.why) {
			t.Errorf("PUT %s: %d %q, want %d saying %q", c.path, code, msg, c.code, c.why)
		}
	}
	for _, path := range []string{"/log/" + testDrv, "/realisations/" + testRealisation + ".doi"} {
		if code := p.status(t, path); code != http.StatusNotFound {
			t.Errorf("GET %s after refused pushes: %d, want 404", path, code)
		}
	}
	if got := testutil.ToFloat64(uploadsCounter(t, reg, "log", "refused")); got != 6 {
		t.Errorf("uploads{kind=log,result=refused} = %v, want 6", got)
	}
	if got := testutil.ToFloat64(uploadsCounter(t, reg, "log", "ok")); got != 0 {
		t.Errorf("uploads{kind=log,result=ok} = %v, want 0", got)
	}
}
