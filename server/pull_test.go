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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/nixbase32"
	"github.com/nardedup/nardedup/narfmt/signature"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/repo/layout"
	"github.com/nardedup/nardedup/server"
	"github.com/nardedup/nardedup/source"
)

// pullTarget is an empty repository served with pull-through from
// upstreams.
type pullTarget struct {
	ts  *httptest.Server
	srv *server.Server
	rp  *nrepo.Repo
	be  *local.Backend
	log fmt.Stringer
}

func newPullTarget(t *testing.T, pull server.Pull) *pullTarget {
	t.Helper()
	dir := t.TempDir()
	be, err := local.Open(filepath.Join(dir, "repo"))
	check(t, err)
	t.Cleanup(func() { be.Close() })
	rp := testrepo.Open(t, be, nrepo.DefaultConfig(), filepath.Join(dir, "index.db"))
	if s, ok := pull.Store.(slowCheck); ok {
		s.Store = rp.NARs()
		pull.Store = s
	}
	return servePull(t, be, rp, pull)
}

// slowCheck is a repository whose PutNAR waits half a second at the end
// of the NAR before checking it.
type slowCheck struct{ *narstore.Store }

func (s slowCheck) PutNAR(ctx context.Context, n narstore.NAR, r io.Reader, done func(error)) (narstore.PutResult, error) {
	return s.Store.PutNAR(ctx, n, slowEOF{r}, done)
}

type slowEOF struct{ r io.Reader }

func (s slowEOF) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		time.Sleep(500 * time.Millisecond)
	}
	return n, err
}

// servePull serves rp with pull-through from pull's upstreams (none: no
// pull-through).
func servePull(t *testing.T, be *local.Backend, rp *nrepo.Repo, pull server.Pull) *pullTarget {
	t.Helper()
	opts, log := loggingOptions()
	opts.MaxStreamsPerClient = -1 // every client is on loopback
	if len(pull.Upstreams) > 0 {
		if pull.Store == nil {
			pull.Store = rp.NARs()
		}
		pull.Flush = rp.Chunks().Flush
		opts.Pull = &pull
	}
	srv := server.New(rp.NARs(), opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &pullTarget{ts: ts, srv: srv, rp: rp, be: be, log: log}
}

// countingUpstream serves dir as an HTTP binary cache and counts the
// requests of each path; gate, if not nil, holds every NAR file after
// its first half until it is closed.
type countingUpstream struct {
	ts   *httptest.Server
	mu   sync.Mutex
	hits map[string]int
	gate chan struct{}
}

func newCountingUpstream(t *testing.T, dir string, gate chan struct{}) *countingUpstream {
	t.Helper()
	u := &countingUpstream{hits: make(map[string]int), gate: gate}
	files := http.FileServer(http.Dir(dir))
	u.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.hits[r.URL.Path]++
		u.mu.Unlock()
		if u.gate == nil || !strings.HasPrefix(r.URL.Path, "/nar/") {
			files.ServeHTTP(w, r)
			return
		}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(r.URL.Path)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		<-u.gate
		w.Write(data[len(data)/2:])
	}))
	t.Cleanup(u.ts.Close)
	return u
}

func (u *countingUpstream) source(t *testing.T) source.Source {
	t.Helper()
	base, err := url.Parse(u.ts.URL)
	check(t, err)
	return source.NewHTTP(base, nil)
}

func (u *countingUpstream) count(prefix string) map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	m := make(map[string]int)
	for p, n := range u.hits {
		if strings.HasPrefix(p, prefix) {
			m[p] = n
		}
	}
	return m
}

// sampleInfos returns the sample bucket's narinfos.
func sampleInfos(t *testing.T, bucket string) []upstreamInfo {
	t.Helper()
	return (&repo{bucket: bucket}).upstream(t)
}

// pullNAR fetches the NAR the served narinfo of hash points at, and
// returns the NAR, decompressed.
func pullNAR(t *testing.T, base, hash string) ([]byte, error) {
	t.Helper()
	return pullNARAs(t, base, hash, false)
}

// pullNARAs is pullNAR, asking for the plain NAR if plain.
func pullNARAs(t *testing.T, base, hash string, plain bool) ([]byte, error) {
	t.Helper()
	resp, body, err := fetch(t, "GET", base+"/"+hash+".narinfo")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("narinfo %s: %s", hash, resp.Status)
	}
	ni, err := narinfo.Parse(bytes.NewReader(body))
	check(t, err)
	u := ni.URL
	if plain {
		u = strings.TrimSuffix(u, ".zst")
	}
	resp, body, err = fetch(t, "GET", base+"/"+u)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	if strings.HasSuffix(u, ".zst") {
		zr, zerr := zstd.NewReader(bytes.NewReader(body))
		check(t, zerr)
		defer zr.Close()
		body, zerr = io.ReadAll(zr)
		if err == nil {
			err = zerr
		}
	}
	return body, err
}

// waitStored waits until the repository has the narinfo of hash.
func waitStored(t *testing.T, rp *nrepo.Repo, hash string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok, err := rp.NARs().HasNarInfo(context.Background(), hash); err == nil && ok {
			return
		}
	}
	t.Fatalf("narinfo %s never stored", hash)
}

func checkNAR(t *testing.T, what string, nar []byte, ni *narinfo.NarInfo) {
	t.Helper()
	want, err := ni.NarSHA256()
	check(t, err)
	if got := sha256.Sum256(nar); narfmt.Hash(got) != want || uint64(len(nar)) != ni.NarSize {
		t.Errorf("%s: got %d bytes with sha256:%s; want %d, sha256:%s", what, len(nar),
			nixbase32.EncodeToString(got[:]), ni.NarSize, nixbase32.EncodeToString(want[:]))
	}
}

// TestPullThroughHTTP has eight clients ask for every NAR of the sample at
// once through a server pulling from an HTTP cache: each NAR file is
// fetched from the upstream once, stored with its upstream narinfo, and
// served from the repository after a restart without the upstream.
func TestPullThroughHTTP(t *testing.T) {
	bucket, err := sample.WriteBucket(filepath.Join(t.TempDir(), "bucket"))
	check(t, err)
	up := newCountingUpstream(t, bucket, nil)
	pk, err := signature.ParsePublicKeys(sample.PublicKey())
	check(t, err)
	p := newPullTarget(t, server.Pull{Upstreams: []source.Source{up.source(t)}, PublicKeys: pk, NegativeTTL: time.Minute})
	infos := sampleInfos(t, bucket)
	var wg sync.WaitGroup
	for _, u := range infos {
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nar, err := pullNAR(t, p.ts.URL, u.hash)
				if err != nil {
					t.Errorf("client %d, %s: %v", i, u.hash, err)
					return
				}
				checkNAR(t, fmt.Sprintf("client %d, %s", i, u.hash), nar, u.ni)
			}()
		}
	}
	wg.Wait()
	for _, u := range infos {
		waitStored(t, p.rp, u.hash)
		text, err := p.rp.NARs().NarInfo(context.Background(), u.hash)
		check(t, err)
		if !bytes.Equal(text, u.text) {
			t.Errorf("stored narinfo of %s:\n%s\nwant the upstream's:\n%s", u.hash, text, u.text)
		}
	}
	files := up.count("/nar/")
	stored := map[string]bool{}
	for _, u := range infos {
		if stored[u.ni.URL] {
			continue
		}
		stored[u.ni.URL] = true
		if n := files["/"+u.ni.URL]; n != 1 {
			t.Errorf("upstream %s fetched %d times; want 1", u.ni.URL, n)
		}
	}
	st := p.srv.PullStats()
	if st.NARs == 0 || st.Bytes == 0 || st.HashFailures != 0 {
		t.Errorf("pull stats %+v: want NARs and bytes pulled, no hash failures", st)
	}

	// After a restart, without the upstream, all is in the repository.
	q := servePull(t, p.be, p.rp, server.Pull{})
	for _, u := range infos {
		nar, err := pullNAR(t, q.ts.URL, u.hash)
		if err != nil {
			t.Fatalf("after restart: %v", err)
		}
		checkNAR(t, "after restart "+u.hash, nar, u.ni)
	}
	if t.Failed() {
		t.Logf("server log:\n%s", p.log)
	}
}

// TestPullThroughDir pulls from a directory, and refuses narinfos not
// signed by the keys given.
func TestPullThroughDir(t *testing.T) {
	bucket, err := sample.WriteBucket(filepath.Join(t.TempDir(), "bucket"))
	check(t, err)
	infos := sampleInfos(t, bucket)
	_, wrong, err := signature.GenerateKey("other-1", rand.New(rand.NewSource(1)))
	check(t, err)
	pk, err := signature.ParsePublicKeys(wrong.String())
	check(t, err)
	p := newPullTarget(t, server.Pull{Upstreams: []source.Source{source.NewDir(bucket)}, PublicKeys: pk})
	if resp, _, err := fetch(t, "GET", p.ts.URL+"/"+infos[0].hash+".narinfo"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("narinfo signed by an untrusted key: %v %v; want 404", resp.Status, err)
	}

	p = newPullTarget(t, server.Pull{Upstreams: []source.Source{source.NewDir(bucket)}})
	for _, u := range infos {
		nar, err := pullNAR(t, p.ts.URL, u.hash)
		if err != nil {
			t.Fatal(err)
		}
		checkNAR(t, u.hash, nar, u.ni)
		waitStored(t, p.rp, u.hash)
		// Recorded under its package name, for names dedup.
		sp, err := storepath.Parse("/nix/store", u.ni.StorePath)
		check(t, err)
		narHash, err := u.ni.NarSHA256()
		check(t, err)
		key := layout.NameOf(storepath.PackageName(sp.Name), narHash).Key()
		if _, err := p.be.Stat(context.Background(), key); err != nil {
			t.Errorf("%s: names object: %v", u.ni.StorePath, err)
		}
	}
}

// bigUpstream writes a binary cache holding one store path with an
// uncompressed NAR of size bytes (a multiple of 8), whose narinfo says
// narHash (the NAR's own if zero), and returns its directory, the path's
// hash and narinfo.
func bigUpstream(t *testing.T, size int, narHash narfmt.Hash) (string, string, *narinfo.NarInfo) {
	t.Helper()
	dir := t.TempDir()
	narOf := func(size int) []byte {
		var buf bytes.Buffer
		w := narfmt.NewWriter(&buf)
		check(t, w.WriteHeader(&narfmt.Header{Path: "/", Type: narfmt.TypeRegular, Size: int64(size)}))
		content := make([]byte, size)
		rand.New(rand.NewSource(int64(size))).Read(content)
		_, err := w.Write(content)
		check(t, err)
		check(t, w.Close())
		return buf.Bytes()
	}
	nar := narOf(size - len(narOf(0)))
	sum := sha256.Sum256(nar)
	if narHash == (narfmt.Hash{}) {
		narHash = sum
	}
	hash := "1111111111111111111111111111111z"
	file := nixbase32.EncodeToString(sum[:])
	text := fmt.Sprintf("StorePath: /nix/store/%s-big\nURL: nar/%s.nar\nCompression: none\nFileHash: sha256:%s\nFileSize: %d\nNarHash: sha256:%s\nNarSize: %d\nReferences: \n",
		hash, file, file, len(nar), nixbase32.EncodeToString(narHash[:]), len(nar))
	if len(nar) != size {
		t.Fatalf("NAR of %d bytes; want %d", len(nar), size)
	}
	check(t, os.MkdirAll(filepath.Join(dir, "nar"), 0o755))
	check(t, os.WriteFile(filepath.Join(dir, "nix-cache-info"), []byte("StoreDir: /nix/store\n"), 0o644))
	check(t, os.WriteFile(filepath.Join(dir, hash+".narinfo"), []byte(text), 0o644))
	check(t, os.WriteFile(filepath.Join(dir, "nar", file+".nar"), nar, 0o644))
	ni, err := narinfo.Parse(strings.NewReader(text))
	check(t, err)
	return dir, hash, ni
}

// TestPullStreams checks that a client gets a NAR's bytes as they come
// from the upstream, and that a client leaving does not stop the pull.
func TestPullStreams(t *testing.T) {
	dir, hash, ni := bigUpstream(t, 4<<20, narfmt.Hash{})
	gate := make(chan struct{})
	up := newCountingUpstream(t, dir, gate)
	open := sync.OnceFunc(func() { close(gate) })
	defer open() // on failure, before the servers close
	p := newPullTarget(t, server.Pull{Upstreams: []source.Source{up.source(t)}})
	resp, _, err := fetch(t, "GET", p.ts.URL+"/"+hash+".narinfo")
	check(t, err)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("narinfo: %s", resp.Status)
	}
	h := strings.TrimPrefix(ni.NarHash, "sha256:")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", p.ts.URL+"/nar/"+h+".nar", nil)
	check(t, err)
	got := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			// The first MiB, while the upstream holds the second half.
			_, err = io.ReadFull(resp.Body, make([]byte, 1<<20))
		}
		got <- err
	}()
	select {
	case err := <-got:
		check(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("no bytes before the upstream sent the whole NAR")
	}
	cancel() // the client leaves
	open()
	waitStored(t, p.rp, hash)
	nar, err := pullNAR(t, p.ts.URL, hash)
	check(t, err)
	checkNAR(t, "after the pull", nar, ni)
	if n := up.count("/nar/"); len(n) != 1 || n["/"+ni.URL] != 1 {
		t.Errorf("upstream NAR requests %v; want one", n)
	}
}

// TestPullHashMismatch pulls a NAR that does not match its narinfo's
// NarHash: the client's stream is cut before its last byte and nothing is
// stored.
func TestPullHashMismatch(t *testing.T) {
	var other narfmt.Hash
	other[0] = 1
	dir, hash, ni := bigUpstream(t, 1<<20, other)
	// The NAR is checked once the repository has read it to its end:
	// have that take a while, so that the clients get every byte the
	// server would send them before it is checked. The server sends a NAR
	// in whole buffers of 64 KiB, so this one is a multiple of that.
	p := newPullTarget(t, server.Pull{Upstreams: []source.Source{source.NewDir(dir)}, Store: slowCheck{}})
	for _, plain := range []bool{true, false} {
		nar, err := pullNARAs(t, p.ts.URL, hash, plain)
		if err == nil {
			t.Errorf("NAR with the wrong NarHash (plain %v): got %d bytes without error; want the stream cut", plain, len(nar))
		}
		if uint64(len(nar)) >= ni.NarSize {
			t.Errorf("NAR with the wrong NarHash (plain %v): got %d bytes, all of it", plain, len(nar))
		}
	}
	time.Sleep(100 * time.Millisecond)
	if ok, err := p.rp.NARs().HasNarInfo(context.Background(), hash); err != nil || ok {
		t.Errorf("narinfo of a mismatching NAR stored: %v %v", ok, err)
	}
	if ok, err := p.rp.NARs().HasManifest(context.Background(), other); err != nil || ok {
		t.Errorf("manifest of a mismatching NAR stored: %v %v", ok, err)
	}
	if s := p.srv.PullStats(); s.HashFailures == 0 {
		t.Errorf("pull stats %+v: want a hash failure", s)
	}
	if log := p.log.String(); !strings.Contains(log, "/nix/store/"+hash+"-big") || !strings.Contains(log, dir) {
		t.Errorf("log does not name the store path and upstream:\n%s", log)
	}
}

// TestPullNegativeTTL checks that misses are remembered for the negative
// TTL, and not without one.
func TestPullNegativeTTL(t *testing.T) {
	bucket, err := sample.WriteBucket(filepath.Join(t.TempDir(), "bucket"))
	check(t, err)
	missing := "2222222222222222222222222222222z"
	for _, ttl := range []time.Duration{0, time.Hour} {
		up := newCountingUpstream(t, bucket, nil)
		p := newPullTarget(t, server.Pull{Upstreams: []source.Source{up.source(t)}, NegativeTTL: ttl})
		for range 3 {
			if resp, _, err := fetch(t, "GET", p.ts.URL+"/"+missing+".narinfo"); err != nil || resp.StatusCode != http.StatusNotFound {
				t.Fatalf("missing narinfo: %v %v; want 404", resp, err)
			}
		}
		want := 3
		if ttl > 0 {
			want = 1
		}
		if n := up.count("/" + missing)["/"+missing+".narinfo"]; n != want {
			t.Errorf("negative TTL %v: upstream asked %d times; want %d", ttl, n, want)
		}
	}
}
