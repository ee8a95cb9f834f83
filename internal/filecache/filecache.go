package filecache

import (
	"container/list"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Entry is one cached file.
type Entry[K comparable, V any] struct {
	Key   K
	Path  string // "": no file, the user holds the data
	Size  int64
	Value V // the user's, e.g. a checksum or the data
}

// Found is an entry found on disk with its modification time.
type Found[K comparable, V any] struct {
	Entry[K, V]
	Mtime time.Time
}

// Stats says what a cache holds and what it removed since New.
type Stats struct {
	Entries          int
	Bytes            int64
	Evicted, Dropped int64 // Dropped: removed as damaged by Drop
}

// Cache is a set of entries of at most a total size, in least recently
// used order. It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	max int64
	tmp string // directory of temporary files

	mu               sync.Mutex
	index            map[K]*list.Element // of *Entry[K, V]
	lru              list.List           // most recently used first
	size             int64
	evicted, dropped int64
}

// New returns an empty cache of at most max bytes whose temporary files
// go to the directory tmp.
func New[K comparable, V any](max int64, tmp string) *Cache[K, V] {
	return &Cache[K, V]{max: max, tmp: tmp, index: make(map[K]*list.Element)}
}

// ClearTemp removes the directory tmp, with the files left there by
// writes cut short, and creates it again empty.
func ClearTemp(tmp string) error {
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	return os.MkdirAll(tmp, 0o755)
}

// Max returns the bound on the total size.
func (c *Cache[K, V]) Max() int64 { return c.max }

// Adopt adds the entries found on disk, oldest modification time first
// (of two with the same key, the later one in found wins), then evicts
// the least recent beyond the bound.
func (c *Cache[K, V]) Adopt(found []Found[K, V]) {
	found = slices.Clone(found)
	slices.SortStableFunc(found, func(a, b Found[K, V]) int { return a.Mtime.Compare(b.Mtime) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range found {
		c.add(f.Entry)
	}
	c.evict()
}

// Get returns entry k and makes it the most recently used.
func (c *Cache[K, V]) Get(k K) (*Entry[K, V], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.index[k]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*Entry[K, V]), true
}

// Peek returns entry k without changing the order.
func (c *Cache[K, V]) Peek(k K) (*Entry[K, V], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.index[k]; ok {
		return el.Value.(*Entry[K, V]), true
	}
	return nil, false
}

// Drop removes e, found damaged, and its file unless it was replaced or
// removed meanwhile, and counts it in Stats.Dropped.
func (c *Cache[K, V]) Drop(e *Entry[K, V]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.index[e.Key]; ok && el.Value.(*Entry[K, V]) == e {
		c.remove(el)
		c.dropped++
	}
}

// Remove removes entry k and its file.
func (c *Cache[K, V]) Remove(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.index[k]; ok {
		c.remove(el)
	}
}

// RemoveFunc removes every entry for which drop returns true, and their
// files. It runs under the cache's lock, so drop must not call it.
func (c *Cache[K, V]) RemoveFunc(drop func(*Entry[K, V]) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, el := range c.index {
		if drop(el.Value.(*Entry[K, V])) {
			c.remove(el)
		}
	}
}

// CreateTemp creates a temporary file, named by pattern as in
// os.CreateTemp, to be passed to Commit once written.
func (c *Cache[K, V]) CreateTemp(pattern string) (*os.File, error) {
	return os.CreateTemp(c.tmp, pattern)
}

// WriteTemp writes data to a new temporary file and returns its name.
func (c *Cache[K, V]) WriteTemp(pattern string, data []byte) (string, error) {
	f, err := c.CreateTemp(pattern)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// Commit renames the written temporary file tmp to e.Path, creating its
// directory if need be, and adds e as the most recently used entry,
// replacing an entry of the same key; then it evicts the least recent
// beyond the bound. If the rename fails, tmp is removed and e not added.
// An entry without a file (e.Path "") is added with tmp "".
func (c *Cache[K, V]) Commit(tmp string, e Entry[K, V]) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.index[e.Key]; ok {
		c.remove(el)
	}
	if e.Path != "" {
		err := os.MkdirAll(filepath.Dir(e.Path), 0o755)
		if err == nil {
			err = os.Rename(tmp, e.Path)
		}
		if err != nil {
			os.Remove(tmp)
			return err
		}
	}
	c.add(e)
	c.evict()
	return nil
}

// Stats returns what the cache holds and removed.
func (c *Cache[K, V]) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Entries: c.lru.Len(), Bytes: c.size, Evicted: c.evicted, Dropped: c.dropped}
}

// Touch sets the modification time of path to now, which keeps its
// entry's order across restarts; best effort.
func Touch(path string) {
	now := time.Now()
	os.Chtimes(path, now, now)
}

// add puts e first, replacing an entry of the same key; c.mu is held.
func (c *Cache[K, V]) add(e Entry[K, V]) {
	if el, ok := c.index[e.Key]; ok {
		c.remove(el)
	}
	c.index[e.Key] = c.lru.PushFront(&e)
	c.size += e.Size
}

// remove forgets el and deletes its file; c.mu is held.
func (c *Cache[K, V]) remove(el *list.Element) {
	e := c.lru.Remove(el).(*Entry[K, V])
	delete(c.index, e.Key)
	c.size -= e.Size
	if e.Path != "" {
		os.Remove(e.Path)
	}
}

// evict removes the least recently used entries beyond the bound; c.mu
// is held.
func (c *Cache[K, V]) evict() {
	for c.size > c.max && c.lru.Len() > 0 {
		c.remove(c.lru.Back())
		c.evicted++
	}
}
