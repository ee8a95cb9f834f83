package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/narstore"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
)

// repo is a repository holding the ingested sample binary cache.
type repo struct {
	be     *local.Backend
	rp     *nrepo.Repo
	st     *narstore.Store
	bucket string // the sample binary cache it was ingested from
}

// newRepo creates a repository in a temporary directory and ingests the
// sample binary cache into it.
func newRepo(tb testing.TB) *repo {
	tb.Helper()
	be, rp, bucket := testrepo.Sample(tb)
	return &repo{be: be, rp: rp, st: rp.NARs(), bucket: bucket}
}

func check(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// serve starts an HTTP server for the repository on a loopback port.
func (r *repo) serve(tb testing.TB, opts server.Options) *httptest.Server {
	tb.Helper()
	ts := httptest.NewServer(server.New(r.st, opts))
	tb.Cleanup(ts.Close)
	return ts
}

// upstreamInfo is one narinfo of the sample binary cache.
type upstreamInfo struct {
	hash string // store path hash part
	text []byte
	ni   *narinfo.NarInfo
}

// upstream returns the sample's narinfos, in the order of their hashes.
func (r *repo) upstream(tb testing.TB) []upstreamInfo {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(r.bucket, "*.narinfo"))
	check(tb, err)
	if len(files) == 0 {
		tb.Fatal("sample bucket has no narinfo")
	}
	var infos []upstreamInfo
	for _, f := range files {
		text, err := os.ReadFile(f)
		check(tb, err)
		ni, err := narinfo.Parse(bytes.NewReader(text))
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		hash := strings.TrimSuffix(filepath.Base(f), ".narinfo")
		infos = append(infos, upstreamInfo{hash: hash, text: text, ni: ni})
	}
	return infos
}

// largest returns the upstream narinfo with the largest NarSize.
func (r *repo) largest(tb testing.TB) upstreamInfo {
	tb.Helper()
	infos := r.upstream(tb)
	best := infos[0]
	for _, u := range infos[1:] {
		if u.ni.NarSize > best.ni.NarSize {
			best = u
		}
	}
	return best
}

// narName returns the nixbase32 SHA-256 of a NAR, as in /nar/<name>.nar.
func narName(tb testing.TB, ni *narinfo.NarInfo) string {
	tb.Helper()
	name, ok := strings.CutPrefix(ni.NarHash, "sha256:")
	if !ok || len(name) != nixbase32.EncodedLen(32) {
		tb.Fatalf("NarHash %q is not nixbase32 SHA-256", ni.NarHash)
	}
	return name
}

// fetch GETs or HEADs url and returns the response with its body read.
// The error is that of reading the body.
func fetch(tb testing.TB, method, url string) (*http.Response, []byte, error) {
	tb.Helper()
	req, err := http.NewRequest(method, url, nil)
	check(tb, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// putBigNAR stores a NAR of about size bytes of incompressible data, so
// that its chunks fill several frames, and returns it with its name.
func (r *repo) putBigNAR(tb testing.TB, size int) (nar []byte, name string) {
	tb.Helper()
	var buf bytes.Buffer
	w := narfmt.NewWriter(&buf)
	check(tb, w.WriteHeader(&narfmt.Header{Path: "/", Type: narfmt.TypeDirectory}))
	content := make([]byte, size)
	rand.New(rand.NewSource(int64(size))).Read(content)
	check(tb, w.WriteHeader(&narfmt.Header{Path: "/blob", Type: narfmt.TypeRegular, Size: int64(size)}))
	_, err := w.Write(content)
	check(tb, err)
	check(tb, w.Close())
	nar = buf.Bytes()
	return nar, r.putNAR(tb, nar)
}

// putNAR stores nar and returns its name.
func (r *repo) putNAR(tb testing.TB, nar []byte) (name string) {
	tb.Helper()
	sum := sha256.Sum256(nar)
	hash := "0000000000000000000000000000000z"
	n := narstore.NAR{Hash: hash, NarHash: sum, NarSize: uint64(len(nar)),
		NarInfo: fmt.Appendf(nil, "StorePath: /nix/store/%s-big\n", hash)}
	ctx := context.Background()
	done := make(chan error, 1)
	_, err := r.st.PutNAR(ctx, n, bytes.NewReader(nar), func(err error) { done <- err })
	check(tb, err)
	check(tb, r.rp.Chunks().Flush(ctx))
	check(tb, <-done)
	return nixbase32.EncodeToString(sum[:])
}

// keys lists the backend's objects under prefix.
func (r *repo) keys(tb testing.TB, prefix string) []string {
	tb.Helper()
	var keys []string
	check(tb, r.be.List(context.Background(), prefix, func(fi backend.Info) error {
		keys = append(keys, fi.Key)
		return nil
	}))
	return keys
}
