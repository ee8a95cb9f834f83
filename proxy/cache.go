package proxy

import (
	"container/list"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/nardedup/nardedup/chunkstore"
)

// chunkCache holds chunks up to a number of bytes, evicting the least
// recently used: in memory, or as files in a directory when it has one.
// It is safe for concurrent use; the bytes it returns are never changed.
//
// On disk a chunk is the file DIR/<first two hex digits>/<id in hex>,
// written to DIR/tmp and renamed into place, so a kill leaves whole files
// or none. Every read is checked against the chunk's id: a damaged file
// is removed and reported as a miss, so the chunk is fetched again. The
// order of use survives restarts as the files' modification times.
type chunkCache struct {
	dir string // "": in memory

	mu               sync.Mutex
	max, size        int64
	lru              *list.List // of *cached, most recently used first
	index            map[chunkstore.ID]*list.Element
	evicted, dropped int64
}

type cached struct {
	id   chunkstore.ID
	size int64
	data []byte // nil on disk
}

func newChunkCache(max int64) *chunkCache {
	return &chunkCache{max: max, lru: list.New(), index: make(map[chunkstore.ID]*list.Element)}
}

// openChunkCache returns a cache in dir (created if missing) holding the
// chunks already there, least recently used evicted beyond max.
func openChunkCache(dir string, max int64) (*chunkCache, error) {
	c := newChunkCache(max)
	c.dir = dir
	tmp := filepath.Join(dir, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("proxy: cache %s: %w", dir, err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("proxy: cache %s: %w", dir, err)
	}
	type found struct {
		e     *cached
		mtime time.Time
	}
	var all []found
	subs, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("proxy: cache %s: %w", dir, err)
	}
	for _, sub := range subs {
		if !sub.IsDir() || sub.Name() == "tmp" {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, sub.Name()))
		if err != nil {
			return nil, fmt.Errorf("proxy: cache %s: %w", dir, err)
		}
		for _, f := range files {
			id, err := chunkstore.ParseID(f.Name())
			info, ierr := f.Info()
			if err != nil || ierr != nil || !info.Mode().IsRegular() || c.path(id) != filepath.Join(dir, sub.Name(), f.Name()) {
				continue // not ours: left alone
			}
			all = append(all, found{&cached{id: id, size: info.Size()}, info.ModTime()})
		}
	}
	slices.SortFunc(all, func(a, b found) int { return a.mtime.Compare(b.mtime) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range all {
		c.index[f.e.id] = c.lru.PushFront(f.e)
		c.size += f.e.size
	}
	c.evict()
	return c, nil
}

// path returns the file of chunk id.
func (c *chunkCache) path(id chunkstore.ID) string {
	h := hex.EncodeToString(id[:])
	return filepath.Join(c.dir, h[:2], h)
}

// get returns the chunk id if the cache holds it intact.
func (c *chunkCache) get(id chunkstore.ID) ([]byte, bool) {
	c.mu.Lock()
	e, ok := c.index[id]
	if ok {
		c.lru.MoveToFront(e)
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	v := e.Value.(*cached)
	if c.dir == "" {
		return v.data, true
	}
	p := c.path(id)
	data, err := os.ReadFile(p)
	if err != nil || int64(len(data)) != v.size || chunkstore.Sum(data) != id {
		c.mu.Lock()
		if c.index[id] == e {
			c.remove(e)
			c.dropped++
		}
		c.mu.Unlock()
		return nil, false
	}
	now := time.Now()
	os.Chtimes(p, now, now) // keeps the order across restarts; best effort
	return data, true
}

// add keeps a copy of chunk id, evicting the least recently used chunks
// beyond the bound. A chunk larger than the bound is not kept, nor one
// that cannot be written.
func (c *chunkCache) add(id chunkstore.ID, data []byte) {
	if int64(len(data)) > c.max {
		return
	}
	c.mu.Lock()
	if e, ok := c.index[id]; ok {
		c.lru.MoveToFront(e)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	v := &cached{id: id, size: int64(len(data))}
	if c.dir == "" {
		v.data = append([]byte(nil), data...)
	} else if err := c.write(id, data); err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.index[id]; ok { // added meanwhile, the same bytes
		c.lru.MoveToFront(e)
		return
	}
	c.index[id] = c.lru.PushFront(v)
	c.size += v.size
	c.evict()
}

// write stores data as the file of chunk id.
func (c *chunkCache) write(id chunkstore.ID, data []byte) error {
	f, err := os.CreateTemp(filepath.Join(c.dir, "tmp"), "chunk-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	p := c.path(id)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(p), 0o755)
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// remove forgets e and deletes its file; c.mu is held.
func (c *chunkCache) remove(e *list.Element) {
	v := c.lru.Remove(e).(*cached)
	delete(c.index, v.id)
	c.size -= v.size
	if c.dir != "" {
		os.Remove(c.path(v.id))
	}
}

// evict removes the least recently used chunks beyond the bound; c.mu is
// held.
func (c *chunkCache) evict() {
	for c.size > c.max && c.lru.Len() > 0 {
		c.remove(c.lru.Back())
		c.evicted++
	}
}

// stats returns the chunks and bytes held, and the chunks evicted and
// dropped as damaged.
func (c *chunkCache) stats() (chunks int, bytes, evicted, dropped int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.index), c.size, c.evicted, c.dropped
}
