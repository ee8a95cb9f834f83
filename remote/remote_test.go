package remote_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/chunkstore/forward"
	"github.com/nardedup/nardedup/gc"
	"github.com/nardedup/nardedup/internal/remotetest"
	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/remote"
	"github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/server"
)

// fixture is the sample repository served with the read API, behind a
// handler that counts requests and may tamper with answers.
type fixture struct {
	be     *local.Backend
	rp     *repo.Repo
	nars   []narfmt.Hash
	url    string
	tamper atomic.Pointer[func(w http.ResponseWriter, r *http.Request, h http.Handler) bool]
	hits   atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	be, rp, bucket := testrepo.Sample(t)
	f := &fixture{be: be, rp: rp}
	files, err := filepath.Glob(filepath.Join(bucket, "*.narinfo"))
	must(t, err)
	for _, file := range files {
		text, err := os.ReadFile(file)
		must(t, err)
		ni, err := narinfo.Parse(bytes.NewReader(text))
		must(t, err)
		h, err := ni.NarSHA256()
		must(t, err)
		f.nars = append(f.nars, h)
	}
	if len(f.nars) == 0 {
		t.Fatal("no NARs in the sample")
	}
	h := server.New(rp.NARs(), server.Options{Logger: quietLogger(),
		ReadAPI: &server.ReadAPI{Objects: be, Config: rp.Config().NARs}})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		if tp := f.tamper.Load(); tp != nil && (*tp)(w, r, h) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

// setTamper makes fn answer the requests it reports true for.
func (f *fixture) setTamper(fn func(w http.ResponseWriter, r *http.Request, h http.Handler) bool) {
	f.tamper.Store(&fn)
}

func (f *fixture) client(t *testing.T, opts remote.Options) *remote.Client {
	t.Helper()
	c, err := remote.New(f.url, opts)
	must(t, err)
	return c
}

// want returns the NAR as the repository rebuilds it.
func (f *fixture) want(t *testing.T, h narfmt.Hash) []byte {
	t.Helper()
	rc, _, err := f.rp.NARs().Open(context.Background(), h)
	must(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, err)
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRoundTrip rebuilds every NAR of the sample through the read API,
// first from nothing, keeping the chunks it fetched, then from those:
// then only the manifest is fetched.
func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.client(t, remote.Options{})
	held := make(map[chunkstore.ID][]byte)
	narBytes := 0
	for _, h := range f.nars {
		var buf bytes.Buffer
		got := func(id chunkstore.ID, data []byte) { held[id] = bytes.Clone(data) }
		if _, err := c.FetchNAR(ctx, h, &buf, nil, got); err != nil {
			t.Fatalf("NAR %s: %v", h, err)
		}
		if !bytes.Equal(buf.Bytes(), f.want(t, h)) {
			t.Fatalf("NAR %s: rebuilt %d bytes differ from the repository's", h, buf.Len())
		}
		narBytes += buf.Len()
	}
	st := c.Stats()
	if st.Frames == 0 || st.ChunksHeld != 0 {
		t.Fatalf("from nothing: %+v", st)
	}
	t.Logf("%d NARs of %d bytes from nothing: %+v", len(f.nars), narBytes, st)

	c = f.client(t, remote.Options{})
	_, err := c.Info(ctx)
	must(t, err)
	have := func(id chunkstore.ID) ([]byte, bool) { b, ok := held[id]; return b, ok }
	for _, h := range f.nars {
		before := c.Stats().Requests
		var buf bytes.Buffer
		if _, err := c.FetchNAR(ctx, h, &buf, have, nil); err != nil {
			t.Fatalf("NAR %s: %v", h, err)
		}
		if n := c.Stats().Requests - before; n != 1 {
			t.Errorf("NAR %s with every chunk held: %d requests, want 1 (the manifest)", h, n)
		}
		if !bytes.Equal(buf.Bytes(), f.want(t, h)) {
			t.Fatalf("NAR %s: rebuilt from held chunks differs", h)
		}
	}
	if st := c.Stats(); st.Frames != 0 || st.ChunksFetched != 0 {
		t.Fatalf("with every chunk held: %+v", st)
	}
}

// TestHeldChunkChecked gives a wrong held chunk: it is fetched instead.
func TestHeldChunkChecked(t *testing.T) {
	f := newFixture(t)
	c := f.client(t, remote.Options{})
	h := f.nars[0]
	have := func(id chunkstore.ID) ([]byte, bool) { return make([]byte, 100), true }
	var buf bytes.Buffer
	if _, err := c.FetchNAR(context.Background(), h, &buf, have, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), f.want(t, h)) {
		t.Fatal("NAR differs")
	}
	if st := c.Stats(); st.ChunksHeld != 0 || st.ChunksFetched == 0 {
		t.Fatalf("%+v", st)
	}
}

// frameURL returns the read API path of the first frame of NAR h.
func (f *fixture) frameURL(t *testing.T, h narfmt.Hash) string {
	t.Helper()
	m, err := f.rp.NARs().Manifest(context.Background(), h)
	must(t, err)
	loc, err := m.Locations.Cursor(narstore.SectionRecipe).Next(m.Recipe[0].Size)
	must(t, err)
	return server.ReadAPIPrefix + "frame/" + server.FrameName(loc)
}

func get(t *testing.T, url string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	must(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestHeaders checks the caching headers and conditional requests.
func TestHeaders(t *testing.T) {
	f := newFixture(t)
	h := f.nars[0]
	for _, tc := range []struct {
		path, cc string
	}{
		{f.frameURL(t, h), "public, max-age=31536000, immutable"},
		{server.ReadAPIPrefix + "manifest/" + h.String(), "public, max-age=3600"},
		{server.ReadAPIPrefix + "info", "public, max-age=3600"},
	} {
		resp := get(t, f.url+tc.path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != tc.cc {
			t.Errorf("%s: %s, Cache-Control %q, want 200 and %q", tc.path, resp.Status, resp.Header.Get("Cache-Control"), tc.cc)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("%s: no ETag", tc.path)
			continue
		}
		if resp := get(t, f.url+tc.path, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match %s: %s, want 304", tc.path, etag, resp.Status)
		}
		if resp := get(t, f.url+tc.path, "If-None-Match", `"other"`); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with another tag: %s, want 200", tc.path, resp.Status)
		}
	}
}

// TestHostilePaths checks that every path not spelled as the read API
// spells it is 404.
func TestHostilePaths(t *testing.T) {
	f := newFixture(t)
	frame := f.frameURL(t, f.nars[0])
	parts := strings.Split(frame, "/")
	id := parts[len(parts)-3]
	p := server.ReadAPIPrefix
	for _, path := range []string{
		p + "frame/" + strings.ToUpper(id) + "/0/10",
		p + "frame/" + id + "/00/10",
		p + "frame/" + id + "/0/010",
		p + "frame/" + id + "/0/0",
		p + "frame/" + id + "/-1/10",
		p + "frame/" + id + "/+0/10",
		p + "frame/" + id + "/0/67108865000",
		p + "frame/" + id + "/1000000000/10",
		p + "frame/" + id + "/0/10/",
		p + "frame/" + id + "/0",
		p + "frame/../../config",
		p + "frame/..%2f..%2fconfig/0/10",
		p + "manifest/../../config",
		p + "manifest/" + f.nars[0].String() + "/",
		p + "manifest/" + strings.ToUpper(f.nars[0].String()),
		p + "forward/" + id + "/x",
		p + "forward/..",
		p + "info/",
		p + "infox",
		"/_nardedup/v2/info",
		p,
	} {
		if resp := get(t, f.url+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", path, resp.Status)
		}
	}
	// A frame's answer is bounded: the longest range is refused unread.
	if resp := get(t, f.url+p+"frame/"+id+"/0/"+strconv.Itoa(server.MaxFrameBytes+1)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("frame longer than MaxFrameBytes: %s", resp.Status)
	}
}

// relocate moves pack p under a new id and writes its forward record, as
// garbage collection does when it repacks p, then deletes p.
func (f *fixture) relocate(t *testing.T, p chunkstore.ID, writeRecord bool) {
	t.Helper()
	ctx := context.Background()
	cs := f.rp.Chunks()
	toc, err := cs.ReadTOC(ctx, p)
	must(t, err)
	rc, err := f.be.Get(ctx, chunkstore.PackKey(p), 0, -1)
	must(t, err)
	data, err := io.ReadAll(rc)
	rc.Close()
	must(t, err)
	moved := chunkstore.Sum(append(data, "moved"...))
	must(t, f.be.Put(ctx, chunkstore.PackKey(moved), bytes.NewReader(data), int64(len(data))))
	if writeRecord {
		rec := &forward.Record{Pack: p}
		for _, c := range toc.Chunks {
			fr := toc.Frames[c.Frame]
			rec.Entries = append(rec.Entries, forward.Entry{ID: c.ID, Loc: chunkstore.Location{Pack: moved,
				FrameOffset: fr.Offset, FrameCLen: fr.CLen, FrameULen: fr.ULen, Offset: c.Offset, Length: c.Length}})
		}
		must(t, forward.Put(ctx, f.be, rec))
	}
	must(t, f.be.Delete(ctx, chunkstore.PackKey(p)))
}

// TestForward deletes the pack a NAR's manifest names, after writing its
// forward record: the client follows it. Without the record, it fails
// naming the pack.
func TestForward(t *testing.T) {
	for _, withRecord := range []bool{true, false} {
		f := newFixture(t)
		ctx := context.Background()
		h := f.nars[0]
		m, err := f.rp.NARs().Manifest(ctx, h)
		must(t, err)
		want := f.want(t, h)
		gone := m.Locations.Packs()[0]
		f.relocate(t, gone, withRecord)
		c := f.client(t, remote.Options{})
		var buf bytes.Buffer
		_, err = c.FetchNAR(ctx, h, &buf, nil, nil)
		if !withRecord {
			if err == nil || !strings.Contains(err.Error(), gone.String()) {
				t.Fatalf("without a forward record: %v, want an error naming pack %s", err, gone)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatal("NAR through a forward record differs")
		}
		if st := c.Stats(); st.ForwardRecords != 1 {
			t.Fatalf("forward records fetched: %+v, want 1", st)
		}
		resp := get(t, f.url+server.ReadAPIPrefix+"forward/"+gone.String())
		if cc := resp.Header.Get("Cache-Control"); resp.StatusCode != http.StatusOK || !strings.HasSuffix(cc, "immutable") {
			t.Errorf("forward record: %s, Cache-Control %q", resp.Status, cc)
		}
	}
}

// TestHostileServer has the server send wrong, truncated, endless and
// slow frames and a manifest of another NAR: each fetch fails, naming
// the object, and the writer never receives the whole NAR.
func TestHostileServer(t *testing.T) {
	f := newFixture(t)
	other := f.nars[1]
	for _, tc := range append(remotetest.Frames(), []remotetest.Tamper{
		{Name: "manifest of another NAR", Do: func(w http.ResponseWriter, r *http.Request, h http.Handler) bool {
			if !strings.HasPrefix(r.URL.Path, server.ReadAPIPrefix+"manifest/") {
				return false
			}
			r2 := r.Clone(r.Context())
			r2.URL.Path = server.ReadAPIPrefix + "manifest/" + other.String()
			h.ServeHTTP(w, r2)
			return true
		}, Want: "manifest "},
	}...) {
		t.Run(tc.Name, func(t *testing.T) {
			f.setTamper(tc.Do)
			defer f.tamper.Store(nil)
			c := f.client(t, remote.Options{IdleTimeout: 300 * time.Millisecond})
			h := f.nars[0]
			w := &countingWriter{}
			_, err := c.FetchNAR(context.Background(), h, w, nil, nil)
			if err == nil {
				t.Fatal("fetch succeeded")
			}
			if !strings.Contains(err.Error(), tc.Want) || !strings.Contains(err.Error(), f.url) {
				t.Errorf("error %q does not name the object (%q) and the server", err, tc.Want)
			}
			if m, merr := f.rp.NARs().Manifest(context.Background(), h); merr == nil && w.n.Load() >= int64(m.NarSize) {
				t.Errorf("the writer received %d bytes, the whole NAR", w.n.Load())
			}
			t.Log(err)
		})
	}
}

// TestWrongChunk names another chunk in a manifest's recipe: the chunk
// at its location does not match the id, and the fetch fails naming it.
func TestWrongChunk(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.client(t, remote.Options{})
	h := f.nars[0]
	m, err := c.Manifest(ctx, h)
	must(t, err)
	m.Recipe[0].ID[0] ^= 1
	w := &countingWriter{}
	err = c.Fetch(ctx, m, w, nil, nil)
	if !errors.Is(err, remote.ErrCorrupt) || !strings.Contains(err.Error(), m.Recipe[0].ID.String()) {
		t.Fatalf("chunk of another id: %v, want a corrupt chunk %s", err, m.Recipe[0].ID)
	}
	if w.n.Load() >= int64(m.NarSize) {
		t.Fatal("the writer received the whole NAR")
	}
}

// TestWrongNAR rebuilds a NAR from a manifest whose path table was
// altered, so that every chunk is right and only the NAR is not: the
// NarHash check fails it before its last byte.
func TestWrongNAR(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.client(t, remote.Options{})
	for _, h := range f.nars {
		m, err := c.Manifest(ctx, h)
		must(t, err)
		if len(m.Paths) == 0 {
			continue
		}
		p := []byte(m.Paths[0])
		p[len(p)-1] ^= 1
		m.Paths[0] = string(p)
		w := &countingWriter{}
		err = c.Fetch(ctx, m, w, nil, nil)
		if !errors.Is(err, remote.ErrCorrupt) || !strings.Contains(err.Error(), h.String()) {
			t.Fatalf("altered manifest: %v, want a corrupt NAR %s", err, h)
		}
		if w.n.Load() >= int64(m.NarSize) {
			t.Fatalf("the writer received the whole wrong NAR")
		}
		return
	}
	t.Skip("no NAR with store paths in the sample")
}

type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestAuth serves the read API behind auth: the client presents a bearer
// token, or basic auth from its URL, and is refused without.
func TestAuth(t *testing.T) {
	be, rp, _ := testrepo.Sample(t)
	auth := &server.Auth{}
	auth.AddToken("s3cret")
	auth.AddBasic("nix", "pw")
	ts := httptest.NewServer(server.New(rp.NARs(), server.Options{Logger: quietLogger(), Auth: auth,
		ReadAPI: &server.ReadAPI{Objects: be, Config: rp.Config().NARs}}))
	defer ts.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		url, token string
		ok         bool
	}{
		{ts.URL, "", false},
		{ts.URL, "wrong", false},
		{ts.URL, "s3cret", true},
		{strings.Replace(ts.URL, "://", "://nix:pw@", 1), "", true},
	} {
		c, err := remote.New(tc.url, remote.Options{Token: tc.token})
		must(t, err)
		info, err := c.Info(ctx)
		if (err == nil) != tc.ok {
			t.Errorf("%s token %q: %v, want success %v", tc.url, tc.token, err, tc.ok)
		}
		if err == nil && info.StoreDir != "/nix/store" {
			t.Errorf("info: %+v", info)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestFrameFetchedOnce fetches one NAR from several goroutines at once,
// frames answered slowly so that they overlap: each frame is fetched
// from the server once.
func TestFrameFetchedOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var frameHits atomic.Int64
	f.setTamper(func(w http.ResponseWriter, r *http.Request, h http.Handler) bool {
		if strings.HasPrefix(r.URL.Path, server.ReadAPIPrefix+"frame/") {
			frameHits.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
		return false
	})
	one := f.client(t, remote.Options{})
	h := f.nars[0]
	if _, err := one.FetchNAR(ctx, h, io.Discard, nil, nil); err != nil {
		t.Fatal(err)
	}
	frames := one.Stats().Frames
	frameHits.Store(0)
	c := f.client(t, remote.Options{})
	want := f.want(t, h)
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() {
			var buf bytes.Buffer
			_, err := c.FetchNAR(ctx, h, &buf, nil, nil)
			if err == nil && !bytes.Equal(buf.Bytes(), want) {
				err = errors.New("NAR differs")
			}
			errs <- err
		}()
	}
	for range n {
		must(t, <-errs)
	}
	if got := frameHits.Load(); got != frames {
		t.Fatalf("%d concurrent fetches of a NAR of %d frames: %d frame requests; stats %+v", n, frames, got, c.Stats())
	}
}

// TestColdFrames fetches every NAR after garbage collection recompressed
// the repository into xz frames, as `gc --recompress --cold-codec xz`
// does: the client decodes them as the server's own reader does.
func TestColdFrames(t *testing.T) {
	if !chunkstore.HasLibxz {
		t.Skip("built without cgo")
	}
	f := newFixture(t)
	ctx := context.Background()
	want := make(map[narfmt.Hash][]byte)
	for _, h := range f.nars {
		want[h] = f.want(t, h)
	}
	_, err := repo.EnableXZFrames(ctx, f.be, true)
	must(t, err)
	rp, err := repo.Open(ctx, f.be, repo.Options{Chunks: chunkstore.Options{IndexPath: filepath.Join(t.TempDir(), "index.db")}})
	must(t, err)
	defer rp.Close()
	rep, err := gc.Collect(ctx, rp, gc.Options{Grace: -1, RepackBelow: -1, TempDir: t.TempDir(), Recompress: gc.RecompressOptions{
		Enabled: true, MinLiveBytes: -1, Copy: chunkstore.CopyOptions{Codec: chunkstore.CodecXZ, XZGzip: true,
			GroupSize: 2 * rp.Config().Chunks.GroupSize}}})
	must(t, err)
	if rep.Recompressed.Frames == 0 {
		t.Fatal("nothing recompressed")
	}
	c := f.client(t, remote.Options{})
	for _, h := range f.nars {
		var buf bytes.Buffer
		if _, err := c.FetchNAR(ctx, h, &buf, nil, nil); err != nil {
			t.Fatalf("NAR %s from xz frames: %v", h, err)
		}
		if !bytes.Equal(buf.Bytes(), want[h]) {
			t.Fatalf("NAR %s from xz frames differs", h)
		}
	}
}
