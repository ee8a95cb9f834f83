package chunkstore

import (
	"container/list"
	"context"
	"math"
	"sync"
)

// frameKey names a frame: packs never change, so neither do their frames.
type frameKey struct {
	pack   ID
	offset int64
}

// cachedFrame is a decoded frame (or its head) shared by readers. Its data
// is never written once done is closed.
type cachedFrame struct {
	key  frameKey
	data []byte
	err  error
	done chan struct{} // closed once data or err is set
	elem *list.Element // in the LRU list once decoded; nil while decoding or once evicted

	mu      sync.Mutex
	checked map[uint64]ID // chunks (offset<<32 | length) found to match their ids
}

// slice is sliceChunk for a cached frame: a chunk already checked
// against its id is not hashed again.
func (e *cachedFrame) slice(loc Location, ref Ref) ([]byte, error) {
	k := uint64(loc.Offset)<<32 | uint64(loc.Length)
	e.mu.Lock()
	id, ok := e.checked[k]
	e.mu.Unlock()
	if ok && id == ref.ID && loc.Length == ref.Size {
		return e.data[loc.Offset : loc.Offset+loc.Length], nil
	}
	data, err := sliceChunk(e.data, loc, ref)
	if err == nil {
		e.mu.Lock()
		if e.checked == nil {
			e.checked = make(map[uint64]ID)
		}
		e.checked[k] = ref.ID
		e.mu.Unlock()
	}
	return data, err
}

// frameCache keeps decoded frames, most recently used first, up to max
// bytes, so that a frame several chunks of a stream come from, or that
// several streams read, is decompressed once. Two readers that want the
// same frame at the same time share one decoding.
type frameCache struct {
	mu   sync.Mutex
	max  int64
	size int64
	m    map[frameKey]*cachedFrame
	lru  list.List // of *cachedFrame, front most recent

	hits, misses int64
}

func newFrameCache(max int64) *frameCache {
	return &frameCache{max: max, m: make(map[frameKey]*cachedFrame)}
}

// get returns a frame holding at least the first need bytes of the frame at
// key, decoding them with decode (whose result, at least as long as the
// head asked of it, it keeps) unless the cache holds them. The frame is
// shared: callers must not modify its data.
//
// A cached head too short for need is decoded again from the frame's start
// (zstd and xz cannot resume), and then at least twice as long: a reader
// walking through a large frame, each job wanting a little more, so
// decodes a bounded multiple of the frame instead of its square.
func (c *frameCache) get(ctx context.Context, key frameKey, need uint32, decode func(head uint32) ([]byte, error)) (*cachedFrame, error) {
	head := need
	for {
		c.mu.Lock()
		e, ok := c.m[key]
		if !ok {
			break
		}
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
		if e.err == nil && len(e.data) >= int(need) {
			if e.elem != nil {
				c.lru.MoveToFront(e.elem)
			}
			c.hits++
			c.mu.Unlock()
			return e, nil
		}
		// Failed, or only a shorter head: decode again, in place of it
		// unless someone already has.
		if e.err == nil {
			head = max(need, uint32(min(2*len(e.data), math.MaxUint32)))
		}
		if c.m[key] == e {
			c.remove(e)
		}
		c.mu.Unlock()
	}
	e := &cachedFrame{key: key, done: make(chan struct{})}
	c.m[key] = e
	c.misses++
	c.mu.Unlock()

	data, err := decode(head)
	c.mu.Lock()
	e.data, e.err = data, err
	if err != nil {
		if c.m[key] == e {
			delete(c.m, key)
		}
	} else if c.m[key] == e {
		e.elem = c.lru.PushFront(e)
		c.size += int64(cap(data))
		for c.size > c.max && c.lru.Len() > 0 {
			c.remove(c.lru.Back().Value.(*cachedFrame))
		}
	}
	close(e.done)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return e, nil
}

// drop forgets e, if the cache still holds it.
func (c *frameCache) drop(e *cachedFrame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[e.key] == e {
		c.remove(e)
	}
}

// remove drops e; c.mu is held.
func (c *frameCache) remove(e *cachedFrame) {
	if c.m[e.key] == e {
		delete(c.m, e.key)
	}
	if e.elem != nil {
		c.lru.Remove(e.elem)
		c.size -= int64(cap(e.data))
		e.elem = nil
	}
}

// stats returns the hits and misses so far and the bytes held.
func (c *frameCache) stats() (hits, misses, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses, c.size
}
