package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/server"
	"github.com/nardedup/nardedup/source"
)

const (
	drvPlain = "0apnlz8jhs8s3wyagsncrsq0mlj0v822-libpsl-0.21.2.drv"
	drvZstd  = "1bpnlz8jhs8s3wyagsncrsq0mlj0v822-hello-2.12.drv"
	realID   = "sha256:1d7b5ac3f7ae3a0f7e9b4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e!out"
)

// buildLog returns n bytes of build log text.
func buildLog(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "[%d/%d] gcc -O2 -c src/part%d.c -o part%d.o\n", i, n, i*31, i)
	}
	return b.Bytes()[:n]
}

// writeExtras adds two build logs (one stored zstd-compressed, as an S3
// cache with log-compression holds it) and a realisation to the binary
// cache in dir, and returns what Nix reads back from each, by the name
// under which a binary cache holds it.
func writeExtras(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	plain, compressed := buildLog(200<<10), buildLog(90<<10)
	enc, err := zstd.NewWriter(nil)
	must(t, err)
	real := []byte(`{"dependentRealisations":{},"id":"` + realID + `","outPath":"fhily0sc65qfd5891rvrsg6ly48smv29-glibc-2.35","signatures":[]}`)
	files := map[string][]byte{
		"log/" + drvPlain:                 plain,
		"log/" + drvZstd:                  enc.EncodeAll(compressed, nil),
		"realisations/" + realID + ".doi": real,
	}
	for name, data := range files {
		must(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	return map[string][]byte{"log/" + drvPlain: plain, "log/" + drvZstd: compressed, "realisations/" + realID + ".doi": real}
}

// TestExtrasRoundTrip ingests build logs and a realisation from a
// directory source, serves them and exports them: every copy is the
// bytes Nix reads from the source.
func TestExtrasRoundTrip(t *testing.T) {
	bucket := sampleBucket(t)
	want := writeExtras(t, bucket)
	r := newRepo(t)
	st, err := r.ingestDir(t, bucket)
	must(t, err)
	if st.Logs != 2 || st.Realisations != 1 || st.ExtrasUnlisted {
		t.Fatalf("ingest: %d logs, %d realisations (unlisted %v); want 2 and 1", st.Logs, st.Realisations, st.ExtrasUnlisted)
	}
	if n := int64(len(want["log/"+drvPlain]) + len(want["log/"+drvZstd])); st.LogBytes != n {
		t.Errorf("ingest: LogBytes %d, want %d", st.LogBytes, n)
	}
	if logs := r.keys(t, "log/"); len(logs) != 2 || r.bytes(t) <= 0 {
		t.Errorf("repository holds logs %v", logs)
	}

	ts := httptest.NewServer(server.New(r.st, server.Options{}))
	defer ts.Close()
	for name, data := range want {
		resp, err := http.Get(ts.URL + "/" + name)
		must(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		must(t, err)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
			t.Errorf("GET /%s: %d, %d bytes; want 200 and the source's %d bytes", name, resp.StatusCode, len(body), len(data))
		}
	}

	out := filepath.Join(t.TempDir(), "export")
	res, err := admin.Export(context.Background(), r.st, out, "none", nil)
	must(t, err)
	if res.Logs != 2 || res.Realisations != 1 {
		t.Errorf("export: %d logs, %d realisations; want 2 and 1", res.Logs, res.Realisations)
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("exported %s: %d bytes (%v); want the source's %d bytes", name, len(got), err, len(data))
		}
	}

	// A second run finds them stored; the export ingests like any cache.
	st, err = r.ingestDir(t, bucket)
	must(t, err)
	if st.Logs != 0 || st.Realisations != 0 {
		t.Errorf("second ingest: %d logs, %d realisations copied again", st.Logs, st.Realisations)
	}
	r2 := newRepo(t)
	st, err = r2.ingestDir(t, out)
	must(t, err)
	if st.Logs != 2 || st.Realisations != 1 {
		t.Errorf("ingest of the export: %d logs, %d realisations", st.Logs, st.Realisations)
	}
}

// TestExtrasHostile puts a stray name under log/ and a realisation that
// is not JSON: each fails by name, and the rest is still copied.
func TestExtrasHostile(t *testing.T) {
	bucket := sampleBucket(t)
	writeExtras(t, bucket)
	must(t, os.WriteFile(filepath.Join(bucket, "log", "not-a-drv"), []byte("x"), 0o644))
	bad := "sha256:" + strings.Repeat("ab", 32) + "!dev"
	must(t, os.WriteFile(filepath.Join(bucket, "realisations", bad+".doi"), []byte("not json"), 0o644))
	must(t, os.Symlink("/etc/passwd", filepath.Join(bucket, "log", "2cpnlz8jhs8s3wyagsncrsq0mlj0v822-x.drv")))
	r := newRepo(t)
	st, err := r.ingestDir(t, bucket)
	if err == nil {
		t.Fatal("ingest of hostile build logs succeeded")
	}
	var names []string
	for _, f := range st.Failures {
		names = append(names, f.String())
	}
	got := strings.Join(names, "\n")
	for _, w := range []string{"log/not-a-drv: ", "realisations/" + bad + ".doi: ", "not a JSON object"} {
		if !strings.Contains(got, w) {
			t.Errorf("failures do not name %q:\n%s", w, got)
		}
	}
	if st.Logs != 2 || st.Realisations != 1 || len(st.Failures) != 2 {
		t.Errorf("%d logs, %d realisations, %d failures; want 2, 1 and 2", st.Logs, st.Realisations, len(st.Failures))
	}
}

// TestExtrasHTTPUnlisted checks that an HTTP source, which cannot list
// build logs, says so.
func TestExtrasHTTPUnlisted(t *testing.T) {
	bucket := sampleBucket(t)
	writeExtras(t, bucket)
	ts := httptest.NewServer(http.FileServer(http.Dir(bucket)))
	defer ts.Close()
	src, err := source.Open(ts.URL)
	must(t, err)
	hashes := make([]string, 0)
	for h := range narinfos(t, bucket) {
		hashes = append(hashes, h)
	}
	src, err = source.WithHashes(src, hashes)
	must(t, err)
	r := newRepo(t)
	st, err := ingest.Run(context.Background(), src, r.rp, ingest.Options{})
	must(t, err)
	if !st.ExtrasUnlisted || st.Logs != 0 {
		t.Errorf("HTTP source: unlisted %v, %d logs", st.ExtrasUnlisted, st.Logs)
	}
}
