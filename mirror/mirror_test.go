package mirror_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nardedup/nardedup/admin"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/remotetest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/mirror"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/server"
	"github.com/nardedup/nardedup/source"
)

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// upstream is a repository served with the read API behind a reverse
// proxy that counts the bytes it passes to the mirror and may tamper
// with answers.
type upstream struct {
	rp     *repo.Repo
	bucket string
	url    string
	bytes  atomic.Int64
	tamper atomic.Pointer[func(w http.ResponseWriter, r *http.Request, h http.Handler) bool]
}

// newUpstream ingests the sample's generations gens (all if none) into a
// new repository and serves it.
func newUpstream(t *testing.T, gens ...int) *upstream {
	t.Helper()
	dir := t.TempDir()
	bucket, err := sample.WriteBucket(filepath.Join(dir, "bucket"))
	must(t, err)
	be, err := local.Open(filepath.Join(dir, "repo"))
	must(t, err)
	t.Cleanup(func() { be.Close() })
	u := &upstream{rp: testrepo.Open(t, be, repo.DefaultConfig(), filepath.Join(dir, "index.db")), bucket: bucket}
	if len(gens) == 0 {
		gens = []int{1, 2, 3}
	}
	for _, g := range gens {
		u.ingest(t, g)
	}
	chunker := u.rp.Config().Chunks.Chunker
	srv := httptest.NewServer(server.New(u.rp.NARs(), server.Options{Logger: quiet(),
		ReadAPI: &server.ReadAPI{Objects: be, Config: u.rp.Config().NARs, Chunker: &chunker}}))
	t.Cleanup(srv.Close)
	target, err := url.Parse(srv.URL)
	must(t, err)
	rproxy := httputil.NewSingleHostReverseProxy(target)
	rproxy.ErrorLog = nil
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w, n: &u.bytes}
		if tp := u.tamper.Load(); tp != nil && (*tp)(cw, r, rproxy) {
			return
		}
		rproxy.ServeHTTP(cw, r)
	}))
	t.Cleanup(front.Close)
	u.url = front.URL
	return u
}

// ingest adds generation g of the sample to the upstream.
func (u *upstream) ingest(t *testing.T, g int) {
	t.Helper()
	src, err := source.WithHashes(source.NewDir(u.bucket), hashes(t, sample.Paths(g)))
	must(t, err)
	_, err = ingest.Run(context.Background(), src, u.rp, ingest.Options{})
	must(t, err)
}

func (u *upstream) setTamper(fn func(w http.ResponseWriter, r *http.Request, h http.Handler) bool) {
	u.tamper.Store(&fn)
}

// fileBytes returns the bytes of the compressed NAR files of store paths.
func (u *upstream) fileBytes(t *testing.T, paths []string) int64 {
	t.Helper()
	var n int64
	for _, h := range hashes(t, paths) {
		text, err := os.ReadFile(filepath.Join(u.bucket, h+".narinfo"))
		must(t, err)
		ni, err := narinfo.Parse(bytes.NewReader(text))
		must(t, err)
		n += int64(ni.FileSize)
	}
	return n
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func hashes(t *testing.T, paths []string) []string {
	t.Helper()
	var hs []string
	for _, p := range paths {
		sp, err := storepath.Parse("/nix/store", p)
		must(t, err)
		hs = append(hs, sp.Hash)
	}
	return hs
}

// newMirror creates a mirror repository of u and opens it.
func newMirror(t *testing.T, u *upstream, opts mirror.Options) (*repo.Repo, *mirror.Mirror) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	be, err := local.Open(filepath.Join(dir, "repo"))
	must(t, err)
	t.Cleanup(func() { be.Close() })
	opts.From, opts.Logger = u.url, quiet()
	c, err := mirror.NewClient(opts)
	must(t, err)
	must(t, mirror.Create(ctx, be, c))
	rp := testrepo.Open(t, be, repo.Config{}, filepath.Join(dir, "index.db"))
	m, err := mirror.New(ctx, rp, opts)
	must(t, err)
	return rp, m
}

// narinfos returns the narinfo texts of a repository by hash.
func narinfos(t *testing.T, rp *repo.Repo) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	texts := make(map[string][]byte)
	must(t, rp.NARs().ListNarInfos(ctx, func(h string) error {
		text, err := rp.NARs().NarInfo(ctx, h)
		texts[h] = text
		return err
	}))
	return texts
}

// checkCopy checks that every narinfo of the mirror is the upstream's,
// byte for byte, and that its NAR rebuilds from the mirror's store as
// from the upstream's; it returns how many narinfos the mirror holds.
func checkCopy(t *testing.T, u *upstream, rp *repo.Repo) int {
	t.Helper()
	ctx := context.Background()
	want := narinfos(t, u.rp)
	got := narinfos(t, rp)
	for h, text := range got {
		if !bytes.Equal(text, want[h]) {
			t.Fatalf("narinfo %s: mirror holds %q, upstream %q", h, text, want[h])
		}
		ni, err := narinfo.Parse(bytes.NewReader(text))
		must(t, err)
		sum, err := ni.NarSHA256()
		must(t, err)
		if !bytes.Equal(readNAR(t, rp, sum), readNAR(t, u.rp, sum)) {
			t.Fatalf("NAR of %s differs", h)
		}
	}
	res, err := admin.Verify(ctx, rp.NARs(), nil)
	must(t, err)
	if len(res.Damaged) > 0 || res.StorePaths != len(got) {
		t.Fatalf("verify: %v", res)
	}
	return len(got)
}

func readNAR(t *testing.T, rp *repo.Repo, sum [32]byte) []byte {
	t.Helper()
	rc, _, err := rp.NARs().Open(context.Background(), sum)
	must(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, err)
	return b
}

// TestMirrorAll mirrors every narinfo of the sample, then again: the
// second pass lists and fetches nothing else.
func TestMirrorAll(t *testing.T) {
	u := newUpstream(t)
	rp, m := newMirror(t, u, mirror.Options{Batch: 4})
	ctx := context.Background()
	must(t, m.Sync(ctx))
	if n, want := checkCopy(t, u, rp), len(narinfos(t, u.rp)); n != want {
		t.Fatalf("mirror holds %d narinfos, upstream %d", n, want)
	}
	if rp.Config().Chunks.Chunker != u.rp.Config().Chunks.Chunker {
		t.Errorf("mirror chunking %+v, upstream %+v", rp.Config().Chunks.Chunker, u.rp.Config().Chunks.Chunker)
	}
	st := m.Stats()
	t.Logf("first pass: %+v", st)
	must(t, m.Sync(ctx))
	st2 := m.Stats()
	if st2.Mirrored != st.Mirrored || st2.Remote.Frames != st.Remote.Frames || st2.Remote.Requests != st.Remote.Requests+1 {
		t.Fatalf("second pass did more than list: %+v after %+v", st2, st)
	}
}

// TestMirrorResume stands for a mirror killed before its narinfos were
// written (they are deleted), then before its manifests were (they are
// deleted too): the next pass fetches no frame, its chunks being held.
func TestMirrorResume(t *testing.T) {
	u := newUpstream(t)
	rp, m := newMirror(t, u, mirror.Options{})
	ctx := context.Background()
	must(t, m.Sync(ctx))
	want := checkCopy(t, u, rp)
	for _, drop := range []layout.Type{layout.NarInfo, layout.Manifest} {
		for _, typ := range []layout.Type{layout.NarInfo, drop} {
			must(t, layout.List(ctx, rp.Backend(), typ, func(name string, _ backend.Info) error {
				return rp.Backend().Delete(ctx, layout.Key(typ, name))
			}))
		}
		before := m.Stats()
		must(t, m.Sync(ctx))
		st := m.Stats()
		if n := checkCopy(t, u, rp); n != want {
			t.Fatalf("after dropping %s: mirror holds %d narinfos, want %d", drop, n, want)
		}
		if st.Remote.Frames != before.Remote.Frames || st.Remote.ChunksHeld == before.Remote.ChunksHeld && drop == layout.Manifest {
			t.Errorf("after dropping %s: %+v after %+v, want no frame fetched", drop, st, before)
		}
		if drop == layout.NarInfo && st.Resumed == before.Resumed {
			t.Errorf("after dropping narinfos: no NAR resumed: %+v", st)
		}
	}
}

// TestMirrorClosure mirrors the closure of one store path: it and every
// path it refers to, directly or not, and nothing else.
func TestMirrorClosure(t *testing.T) {
	u := newUpstream(t)
	ctx := context.Background()
	var root string
	var want []string
	for h, text := range narinfos(t, u.rp) {
		ni, err := narinfo.Parse(bytes.NewReader(text))
		must(t, err)
		if len(ni.References) > 1 && strings.Contains(ni.StorePath, "acl") {
			root = ni.StorePath
			want = closure(t, u.rp, h)
			break
		}
	}
	if root == "" {
		t.Fatal("no store path with references in the sample")
	}
	rp, m := newMirror(t, u, mirror.Options{Paths: []string{root}})
	must(t, m.Sync(ctx))
	checkCopy(t, u, rp)
	var got []string
	for h := range narinfos(t, rp) {
		got = append(got, h)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) || len(want) < 2 {
		t.Fatalf("mirrored %v, want the closure %v of %s", got, want, root)
	}
}

// closure returns the sorted hashes of the closure of hash in rp.
func closure(t *testing.T, rp *repo.Repo, hash string) []string {
	t.Helper()
	seen := map[string]bool{}
	queue := []string{hash}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if seen[h] {
			continue
		}
		seen[h] = true
		text, err := rp.NARs().NarInfo(context.Background(), h)
		must(t, err)
		ni, err := narinfo.Parse(bytes.NewReader(text))
		must(t, err)
		for _, r := range ni.References {
			sp, err := storepath.ParseBase(r)
			must(t, err)
			queue = append(queue, sp.Hash)
		}
	}
	var hs []string
	for h := range seen {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return hs
}

// TestMirrorHostile has the upstream send wrong, truncated, endless and
// slow data: the pass fails naming the object, and every narinfo the
// mirror shows is the upstream's, with its NAR intact.
func TestMirrorHostile(t *testing.T) {
	u := newUpstream(t)
	for _, tc := range append(remotetest.Frames(), []remotetest.Tamper{
		{Name: "narinfo of another path", Do: func(w http.ResponseWriter, r *http.Request, h http.Handler) bool {
			if !strings.HasPrefix(r.URL.Path, server.ReadAPIPrefix+"narinfo/") {
				return false
			}
			var other string
			for h2 := range narinfos(t, u.rp) {
				if !strings.HasSuffix(r.URL.Path, h2) {
					other = h2
				}
			}
			r2 := r.Clone(r.Context())
			r2.URL.Path = server.ReadAPIPrefix + "narinfo/" + other
			h.ServeHTTP(w, r2)
			return true
		}, Want: "narinfo "},
	}...) {
		t.Run(tc.Name, func(t *testing.T) {
			u.setTamper(tc.Do)
			defer u.tamper.Store(nil)
			rp, m := newMirror(t, u, mirror.Options{IdleTimeout: 300 * time.Millisecond})
			err := m.Sync(context.Background())
			if err == nil {
				t.Fatal("the pass succeeded")
			}
			if !strings.Contains(err.Error(), tc.Want) || !strings.Contains(err.Error(), u.url) {
				t.Errorf("error %q does not name the object (%q) and the upstream", err, tc.Want)
			}
			t.Log(err)
			u.tamper.Store(nil)
			checkCopy(t, u, rp)
			if st := m.Stats(); st.Failed == 0 || st.Mirrored+st.Failed != st.Seen {
				t.Errorf("stats %+v: want failures, and the other paths mirrored", st)
			}
		})
	}
}

// TestMirrorGenerations mirrors generation 1 of the sample, then
// generation 2, a rebuild of the same packages, and counts the bytes
// that the mirror received for the second against the generation's
// compressed NAR files.
func TestMirrorGenerations(t *testing.T) {
	u := newUpstream(t, 1)
	rp, m := newMirror(t, u, mirror.Options{})
	ctx := context.Background()
	must(t, m.Sync(ctx))
	first := u.bytes.Load()
	for g := 2; g <= 3; g++ {
		u.ingest(t, g)
		u.bytes.Store(0)
		before := m.Stats()
		must(t, m.Sync(ctx))
		moved, xz := u.bytes.Load(), u.fileBytes(t, sample.Paths(g))
		st := m.Stats()
		t.Logf("generation %d: %d bytes moved for %d bytes of nar.xz (%.1f%%), %d frames, %d chunks held, %d fetched; generation 1 moved %d",
			g, moved, xz, 100*float64(moved)/float64(xz), st.Remote.Frames-before.Remote.Frames,
			st.Remote.ChunksHeld-before.Remote.ChunksHeld, st.Remote.ChunksFetched-before.Remote.ChunksFetched, first)
		if moved > xz/20 {
			t.Errorf("generation %d moved %d bytes, more than 5%% of its nar.xz (%d)", g, moved, xz)
		}
	}
	checkCopy(t, u, rp)
}
