package ingest_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/local"
	"github.com/nardedup/nardedup/ingest"
	"github.com/nardedup/nardedup/internal/nixtest"
	"github.com/nardedup/nardedup/internal/sample"
	"github.com/nardedup/nardedup/internal/testrepo"
	"github.com/nardedup/nardedup/narfmt/nixhash"
	"github.com/nardedup/nardedup/narstore"
	nrepo "github.com/nardedup/nardedup/repo"
	"github.com/nardedup/nardedup/source"
)

// repo is a fresh repository on a local backend.
type repo struct {
	be backend.Backend
	rp *nrepo.Repo
	st *narstore.Store
}

func newRepo(t testing.TB) *repo {
	t.Helper()
	return newRepoIn(t, t.TempDir(), t.TempDir())
}

// newRepoIn creates a repository in dir with its local index in idxDir.
func newRepoIn(t testing.TB, dir, idxDir string) *repo {
	t.Helper()
	be, err := local.Open(dir)
	must(t, err)
	return newRepoOn(t, be, idxDir)
}

// newRepoOn creates a repository on be with its local index in idxDir.
func newRepoOn(t testing.TB, be backend.Backend, idxDir string) *repo {
	t.Helper()
	t.Cleanup(func() { be.Close() })
	rp := testrepo.Open(t, be, nrepo.DefaultConfig(), filepath.Join(idxDir, "index.db"))
	return &repo{be: be, rp: rp, st: rp.NARs()}
}

// bytes returns the total size of the repository's objects.
func (r *repo) bytes(t testing.TB) int64 {
	t.Helper()
	var n int64
	err := r.be.List(context.Background(), "", func(fi backend.Info) error {
		n += fi.Size
		return nil
	})
	must(t, err)
	return n
}

// keys returns the keys of the objects under prefix.
func (r *repo) keys(t testing.TB, prefix string) map[string]bool {
	t.Helper()
	keys := make(map[string]bool)
	err := r.be.List(context.Background(), prefix, func(fi backend.Info) error {
		keys[fi.Key] = true
		return nil
	})
	must(t, err)
	return keys
}

// ingestDir ingests the binary cache in dir into r.
func (r *repo) ingestDir(t testing.TB, dir string) (*ingest.Stats, error) {
	t.Helper()
	src, err := source.Open(dir)
	must(t, err)
	return ingest.Run(context.Background(), src, r.rp, ingest.Options{})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sampleBucket writes a fresh copy of the sample binary cache.
func sampleBucket(t testing.TB) string {
	t.Helper()
	dir, err := sample.WriteBucket(filepath.Join(t.TempDir(), "bucket"))
	must(t, err)
	return dir
}

// narinfos reads every narinfo of the binary cache in dir by hash.
func narinfos(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.narinfo"))
	must(t, err)
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		must(t, err)
		out[strings.TrimSuffix(filepath.Base(f), ".narinfo")] = data
	}
	if len(out) == 0 {
		t.Fatalf("no narinfos in %s", dir)
	}
	return out
}

func sizeField(t testing.TB, narinfo []byte, key string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(nixtest.Field(narinfo, key), 10, 64)
	must(t, err)
	return n
}

// setField returns narinfo text with key's line replaced by "key: value",
// or removed when value is "".
func setField(narinfo []byte, key, value string) []byte {
	var out bytes.Buffer
	for line := range strings.SplitSeq(strings.TrimSuffix(string(narinfo), "\n"), "\n") {
		if strings.HasPrefix(line, key+": ") {
			if value == "" {
				continue
			}
			line = key + ": " + value
		}
		out.WriteString(line + "\n")
	}
	return out.Bytes()
}

// narHash returns the SHA-256 digest of a narinfo's NarHash.
func narHash(t testing.TB, narinfo []byte) [32]byte {
	t.Helper()
	h, err := nixhash.Parse(nixtest.Field(narinfo, "NarHash"))
	must(t, err)
	var sum [32]byte
	copy(sum[:], h.Digest)
	return sum
}

// countingSource counts the bytes read from the files it opens.
type countingSource struct {
	source.Source
	mu sync.Mutex
	n  map[string]int64 // by URL
}

func newCountingSource(src source.Source) *countingSource {
	return &countingSource{Source: src, n: make(map[string]int64)}
}

func (c *countingSource) Open(ctx context.Context, url string) (io.ReadCloser, error) {
	rc, err := c.Source.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	return &countingReader{rc: rc, add: func(n int) {
		c.mu.Lock()
		c.n[url] += int64(n)
		c.mu.Unlock()
	}}, nil
}

func (c *countingSource) read(url string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[url]
}

type countingReader struct {
	rc  io.ReadCloser
	add func(int)
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.add(n)
	return n, err
}

func (r *countingReader) Close() error { return r.rc.Close() }
