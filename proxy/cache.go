package proxy

import (
	"container/list"
	"sync"

	"github.com/nardedup/nardedup/chunkstore"
)

// chunkCache holds chunks up to a number of bytes, evicting the least
// recently used. It is safe for concurrent use; the bytes it holds are
// never changed.
type chunkCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	lru   *list.List // of *cached, most recently used first
	index map[chunkstore.ID]*list.Element
}

type cached struct {
	id   chunkstore.ID
	data []byte
}

func newChunkCache(max int64) *chunkCache {
	return &chunkCache{max: max, lru: list.New(), index: make(map[chunkstore.ID]*list.Element)}
}

// get returns the chunk id if the cache holds it.
func (c *chunkCache) get(id chunkstore.ID) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.index[id]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*cached).data, true
}

// add keeps a copy of chunk id, evicting the least recently used chunks
// beyond the bound. A chunk larger than the bound is not kept.
func (c *chunkCache) add(id chunkstore.ID, data []byte) {
	if int64(len(data)) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.index[id]; ok {
		c.lru.MoveToFront(e)
		return
	}
	c.index[id] = c.lru.PushFront(&cached{id: id, data: append([]byte(nil), data...)})
	c.size += int64(len(data))
	for c.size > c.max {
		e := c.lru.Back()
		v := c.lru.Remove(e).(*cached)
		delete(c.index, v.id)
		c.size -= int64(len(v.data))
	}
}

// stats returns the chunks and bytes held.
func (c *chunkCache) stats() (chunks int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.index), c.size
}
