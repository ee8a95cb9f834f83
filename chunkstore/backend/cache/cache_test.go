package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/backend/mem"
	"github.com/nardedup/nardedup/internal/backendtest"
	"github.com/nardedup/nardedup/internal/faulty"
)

func TestConformance(t *testing.T) {
	for _, size := range []int64{1 << 30, 3000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			backendtest.Run(t, func(t *testing.T) backend.Backend {
				b, err := New(mem.New(), t.TempDir(), size, WithPrefixes(""))
				if err != nil {
					t.Fatal(err)
				}
				return b
			})
		})
	}
}

// fixture is a cache over a call-counting in-memory backend.
type fixture struct {
	t     *testing.T
	inner *faulty.Backend
	c     *Backend
	dir   string
}

func newFixture(t *testing.T, dir string, max int64) *fixture {
	t.Helper()
	f := &fixture{t: t, inner: faulty.New(mem.New()), dir: dir}
	f.reopen(max)
	return f
}

// reopen opens a new cache on the same inner backend and directory.
func (f *fixture) reopen(max int64) {
	f.t.Helper()
	c, err := New(f.inner, f.dir, max)
	if err != nil {
		f.t.Fatal(err)
	}
	f.c = c
}

func (f *fixture) put(key string, data []byte) {
	f.t.Helper()
	if err := backend.PutBytes(context.Background(), f.c, key, data); err != nil {
		f.t.Fatal(err)
	}
}

// get reads a range and returns how many inner Gets it took.
func (f *fixture) get(key string, off, n int64, want []byte) int {
	f.t.Helper()
	before := f.inner.Calls(faulty.OpGet)
	rc, err := f.c.Get(context.Background(), key, off, n)
	if err != nil {
		f.t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, want) {
		f.t.Fatalf("Get %s %d+%d: %d bytes, %v; want %d bytes", key, off, n, len(got), err, len(want))
	}
	return f.inner.Calls(faulty.OpGet) - before
}

func data(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func TestHitMissAndRanges(t *testing.T) {
	f := newFixture(t, t.TempDir(), 1<<20)
	obj := data(10000, 1)
	f.put("packs/aa/p1", obj)
	for round, want := range []int{1, 0} {
		if n := f.get("packs/aa/p1", 100, 500, obj[100:600]); n != want {
			t.Errorf("round %d: range: %d inner Gets, want %d", round, n, want)
		}
		if n := f.get("packs/aa/p1", 0, -1, obj); n != want {
			t.Errorf("round %d: whole: %d inner Gets, want %d", round, n, want)
		}
		if n := f.get("packs/aa/p1", 9000, 5000, obj[9000:]); n != want {
			t.Errorf("round %d: past end: %d inner Gets, want %d", round, n, want)
		}
	}
	stats := f.inner.Calls(faulty.OpStat)
	if info, err := f.c.Stat(context.Background(), "packs/aa/p1"); err != nil || info.Size != 10000 || f.inner.Calls(faulty.OpStat) != stats {
		t.Errorf("Stat of a cached object: %+v, %v, %d inner Stats", info, err, f.inner.Calls(faulty.OpStat)-stats)
	}
	f.put("narinfo/x.narinfo", obj[:10])
	for range 2 {
		if n := f.get("narinfo/x.narinfo", 0, -1, obj[:10]); n != 1 {
			t.Errorf("narinfo: %d inner Gets, want 1 (not cached)", n)
		}
	}
	if s := f.c.Stats(); s.Hits != 3 || s.Misses != 3 || s.Entries != 3 || s.Bytes != 500+10000+1000 {
		t.Errorf("stats %+v", s)
	}
}

func TestEvictionOrderAndBound(t *testing.T) {
	f := newFixture(t, t.TempDir(), 3000)
	objs := map[string][]byte{}
	for i := range 4 {
		k := fmt.Sprintf("packs/aa/p%d", i)
		objs[k] = data(1000, byte(i))
		f.put(k, objs[k])
	}
	f.get("packs/aa/p0", 0, -1, objs["packs/aa/p0"])
	f.get("packs/aa/p1", 0, -1, objs["packs/aa/p1"])
	f.get("packs/aa/p2", 0, -1, objs["packs/aa/p2"])
	f.get("packs/aa/p0", 0, -1, objs["packs/aa/p0"]) // p1 is now the oldest
	f.get("packs/aa/p3", 0, -1, objs["packs/aa/p3"]) // evicts p1
	if s := f.c.Stats(); s.Bytes > 3000 || s.Entries != 3 || s.Evictions != 1 {
		t.Errorf("stats %+v", s)
	}
	for i, k := range []string{"packs/aa/p0", "packs/aa/p2", "packs/aa/p3", "packs/aa/p1"} {
		if n, want := f.get(k, 0, -1, objs[k]), min(i/3, 1); n != want {
			t.Errorf("%s: %d inner Gets, want %d", k, n, want)
		}
	}
	if got := dirBytes(t, f.dir); got > 3000 {
		t.Errorf("%d bytes of cache files, bound 3000", got)
	}
	// An entry larger than the whole cache passes through.
	f.put("packs/aa/big", data(5000, 9))
	for range 2 {
		if n := f.get("packs/aa/big", 0, -1, data(5000, 9)); n != 1 {
			t.Errorf("big: %d inner Gets, want 1", n)
		}
	}
}

func dirBytes(t *testing.T, dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			info, _ := d.Info()
			total += info.Size()
		}
		return nil
	})
	return total
}

// slow delays every Get until released, counting them.
type slow struct {
	backend.Backend
	calls   atomic.Int64
	release chan struct{}
}

func (s *slow) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	s.calls.Add(1)
	<-s.release
	return s.Backend.Get(ctx, key, off, n)
}

func TestConcurrentSameKey(t *testing.T) {
	inner := &slow{Backend: mem.New(), release: make(chan struct{})}
	c, err := New(inner, t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	obj := data(4096, 3)
	if err := backend.PutBytes(context.Background(), c, "packs/aa/p", obj); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			rc, err := c.Get(context.Background(), "packs/aa/p", 96, 4000)
			if err == nil {
				var got []byte
				got, err = io.ReadAll(rc)
				rc.Close()
				if err == nil && !bytes.Equal(got, obj[96:4096]) {
					err = fmt.Errorf("wrong data")
				}
			}
			errs <- err
		})
	}
	time.Sleep(200 * time.Millisecond)
	close(inner.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := inner.calls.Load(); n != 1 {
		t.Errorf("inner Get called %d times, want 1", n)
	}
}

func TestAdoptExisting(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, dir, 1<<20)
	objs := [][]byte{data(1000, 1), data(1000, 2), data(1000, 3)}
	for i, o := range objs {
		k := fmt.Sprintf("manifests/m%d", i)
		f.put(k, o)
		f.get(k, 0, -1, o)
		time.Sleep(20 * time.Millisecond) // distinct modification times
	}
	f.get("manifests/m0", 0, -1, objs[0]) // m1 is the oldest now
	os.WriteFile(filepath.Join(dir, "tmp", "entry-left"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "ab", "junk"), []byte("x"), 0o644)

	f.reopen(2000) // adopts m0 and m2, evicting m1
	if s := f.c.Stats(); s.Entries != 2 || s.Bytes != 2000 {
		t.Errorf("after reopen: %+v", s)
	}
	for i, want := range []int{0, 1, 0} {
		if i == 1 {
			continue
		}
		if n := f.get(fmt.Sprintf("manifests/m%d", i), 0, -1, objs[i]); n != want {
			t.Errorf("m%d: %d inner Gets, want %d", i, n, want)
		}
	}
	if n := f.get("manifests/m1", 0, -1, objs[1]); n != 1 {
		t.Errorf("m1: %d inner Gets, want 1 (evicted at start)", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "tmp", "entry-left")); err == nil {
		t.Error("temporary file left")
	}
}

func TestDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, dir, 1<<20)
	obj := data(3000, 5)
	f.put("index/i1", obj)
	f.get("index/i1", 0, -1, obj)
	damage := []func(p string){
		func(p string) { os.Truncate(p, 100) },
		func(p string) { os.WriteFile(p, data(3000, 6), 0o644) }, // right size, wrong bytes
		func(p string) { os.Remove(p) },
		func(p string) { os.Remove(p); os.Mkdir(p, 0o755) },
	}
	for i, hurt := range damage {
		hurt(entryPath(t, dir))
		if n := f.get("index/i1", 0, -1, obj); n != 1 {
			t.Errorf("damage %d: %d inner Gets, want 1 (refetch)", i, n)
		}
		if n := f.get("index/i1", 0, -1, obj); n != 0 {
			t.Errorf("damage %d: %d inner Gets after refetch, want 0", i, n)
		}
	}
	if s := f.c.Stats(); s.Dropped != int64(len(damage)) || s.Entries != 1 {
		t.Errorf("stats %+v", s)
	}
}

// entryPath returns the path of the only cache file under dir.
func entryPath(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "??", "*"))
	if len(m) != 1 {
		t.Fatalf("cache files %v, want one", m)
	}
	return m[0]
}

func TestDeleteDropsEntries(t *testing.T) {
	f := newFixture(t, t.TempDir(), 1<<20)
	obj := data(2000, 7)
	f.put("packs/bb/p", obj)
	f.get("packs/bb/p", 0, 100, obj[:100])
	f.get("packs/bb/p", 100, 100, obj[100:200])
	if err := f.c.Delete(context.Background(), "packs/bb/p"); err != nil {
		t.Fatal(err)
	}
	if s := f.c.Stats(); s.Entries != 0 || s.Bytes != 0 {
		t.Errorf("after Delete: %+v", s)
	}
	if _, err := f.c.Get(context.Background(), "packs/bb/p", 0, 100); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("Get after Delete: %v, want not exist", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1000": 1000, "4K": 4096, "512M": 512 << 20, "10G": 10 << 30, "10GiB": 10 << 30, "2TB": 2 << 40} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-5", "G", "1X", "99999999999T"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): no error", in)
		}
	}
}

// Forward records never change once written: the cache keeps them like
// packs.
func TestDefaultPrefixesCacheForwardRecords(t *testing.T) {
	b := &Backend{prefixes: DefaultPrefixes}
	for _, key := range []string{"forward/3f/3fa0", "packs/3f/3fa0", "index/3fa0"} {
		if !b.cached(key) {
			t.Errorf("%s is not cached by default", key)
		}
	}
	if b.cached("narinfo/aaaa.narinfo") {
		t.Error("narinfos are cached by default")
	}
}
