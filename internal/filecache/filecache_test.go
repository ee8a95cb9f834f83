package filecache_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/filecache"
)

func open(t *testing.T, max int64) (*filecache.Cache[string, int], string) {
	t.Helper()
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	if err := filecache.ClearTemp(tmp); err != nil {
		t.Fatal(err)
	}
	return filecache.New[string, int](max, tmp), dir
}

func put(t *testing.T, c *filecache.Cache[string, int], dir, key, data string) string {
	t.Helper()
	p, err := tryPut(c, dir, key, data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tryPut(c *filecache.Cache[string, int], dir, key, data string) (string, error) {
	tmp, err := c.WriteTemp("entry-*", []byte(data))
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, key[:1], key)
	return p, c.Commit(tmp, filecache.Entry[string, int]{Key: key, Path: p, Size: int64(len(data))})
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestEvictLeastRecent checks that the entry evicted is the one used
// least recently, with its file, and that the bound holds.
func TestEvictLeastRecent(t *testing.T) {
	c, dir := open(t, 10)
	a := put(t, c, dir, "a1", "aaaa")
	b := put(t, c, dir, "b1", "bbbb")
	if _, ok := c.Get("a1"); !ok {
		t.Fatal("a1 missing")
	}
	put(t, c, dir, "c1", "cccc")
	if _, ok := c.Peek("b1"); ok || exists(b) {
		t.Errorf("b1 kept (file %v); want it evicted", exists(b))
	}
	if _, ok := c.Peek("a1"); !ok || !exists(a) {
		t.Errorf("a1 evicted; want it kept as recently used")
	}
	s := c.Stats()
	if s != (filecache.Stats{Entries: 2, Bytes: 8, Evicted: 1}) {
		t.Errorf("stats %+v; want 2 entries, 8 bytes, 1 evicted", s)
	}
}

// TestCommitReplaces checks that committing a key again replaces its
// entry, counting its size once.
func TestCommitReplaces(t *testing.T) {
	c, dir := open(t, 100)
	put(t, c, dir, "a1", "aaaa")
	p := put(t, c, dir, "a1", "aaaaaa")
	if s := c.Stats(); s.Entries != 1 || s.Bytes != 6 {
		t.Errorf("stats %+v; want 1 entry of 6 bytes", s)
	}
	if data, err := os.ReadFile(p); err != nil || string(data) != "aaaaaa" {
		t.Errorf("file %q, %v; want the second write", data, err)
	}
	left, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(left) != 0 {
		t.Errorf("%d temporary files left", len(left))
	}
}

// TestAdoptOrder checks that adopted entries are ordered by modification
// time, the oldest evicted first, and that of two with one key the later
// wins.
func TestAdoptOrder(t *testing.T) {
	c, _ := open(t, 10)
	t0 := time.Now()
	e := func(k string, size int64, v int, age time.Duration) filecache.Found[string, int] {
		return filecache.Found[string, int]{Entry: filecache.Entry[string, int]{Key: k, Size: size, Value: v}, Mtime: t0.Add(-age)}
	}
	c.Adopt([]filecache.Found[string, int]{
		e("new", 4, 0, time.Minute),
		e("old", 4, 0, time.Hour),
		e("mid", 4, 1, 2*time.Minute),
		e("mid", 4, 2, 2*time.Minute),
	})
	if _, ok := c.Peek("old"); ok {
		t.Error("oldest entry kept; want it evicted")
	}
	if m, ok := c.Peek("mid"); !ok || m.Value != 2 {
		t.Errorf("mid: %+v, %v; want the later of the two", m, ok)
	}
	if s := c.Stats(); s.Entries != 2 || s.Bytes != 8 {
		t.Errorf("stats %+v; want 2 entries of 8 bytes", s)
	}
}

// TestDropStale checks that dropping an entry that was replaced meanwhile
// leaves the new one.
func TestDropStale(t *testing.T) {
	c, dir := open(t, 100)
	put(t, c, dir, "a1", "aaaa")
	old, _ := c.Get("a1")
	p := put(t, c, dir, "a1", "AAAA")
	c.Drop(old)
	if _, ok := c.Peek("a1"); !ok || !exists(p) {
		t.Fatal("replaced entry dropped by a stale Drop")
	}
	cur, _ := c.Get("a1")
	c.Drop(cur)
	if _, ok := c.Peek("a1"); ok || exists(p) {
		t.Error("entry kept after Drop")
	}
	if s := c.Stats(); s.Dropped != 1 {
		t.Errorf("dropped %d; want 1", s.Dropped)
	}
}

// TestRemoveFunc checks that RemoveFunc removes the entries chosen and
// their files only.
func TestRemoveFunc(t *testing.T) {
	c, dir := open(t, 100)
	a := put(t, c, dir, "a1", "aaaa")
	b := put(t, c, dir, "b1", "bbbb")
	c.RemoveFunc(func(e *filecache.Entry[string, int]) bool { return e.Key == "a1" })
	if exists(a) || !exists(b) {
		t.Errorf("files a1 %v, b1 %v; want only b1", exists(a), exists(b))
	}
}

// TestClearTemp checks that ClearTemp removes files left by writes cut
// short.
func TestClearTemp(t *testing.T) {
	c, dir := open(t, 100)
	f, err := c.CreateTemp("entry-*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := filecache.ClearTemp(filepath.Join(dir, "tmp")); err != nil {
		t.Fatal(err)
	}
	if exists(f.Name()) {
		t.Error("temporary file left")
	}
}

// TestConcurrentBound checks that concurrent writes, reads and drops keep
// the bound, and that the files left are exactly the entries counted.
func TestConcurrentBound(t *testing.T) {
	c, dir := open(t, 64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				k := fmt.Sprintf("k%d", (g*7+i)%20)
				if _, err := tryPut(c, dir, k, strings.Repeat("x", 1+i%8)); err != nil {
					t.Error(err)
					return
				}
				if e, ok := c.Get(k); ok && i%5 == 0 {
					c.Drop(e)
				}
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	if s.Bytes > 64 {
		t.Errorf("%d bytes held; want at most 64", s.Bytes)
	}
	var files int
	var bytes int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			info, _ := d.Info()
			files++
			bytes += info.Size()
		}
		return nil
	})
	if files != s.Entries || bytes != s.Bytes {
		t.Errorf("%d files of %d bytes on disk; stats say %d entries of %d bytes", files, bytes, s.Entries, s.Bytes)
	}
}
