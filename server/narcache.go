package server

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narstore"
)

// NARCache keeps whole NARs in files of a local directory, up to a bound
// on their total size, evicting the least recently served first. A NAR
// served from the repository is written to it as it goes out and kept
// only once it passed its NarHash check, so a popular NAR is later read
// from a file rather than rebuilt: no chunk reads, no decompression.
// Entries are checked again as they are served, like the repository's
// NARs: a damaged file is an error before the last byte, and is removed.
// It is safe for concurrent use; the directory must be the cache's alone.
type NARCache struct {
	dir string
	max int64

	mu      sync.Mutex
	size    int64
	m       map[narfmt.Hash]*list.Element // of *narEntry
	lru     list.List                     // front most recently served
	filling map[narfmt.Hash]bool          // being written by a request
	stored  int64                         // entries written since opening
}

type narEntry struct {
	hash narfmt.Hash
	size int64
}

// narSuffix ends the name of an entry, which is its NarHash as in
// /nar/<hash>.nar; tmpSuffix ends that of one being written.
const (
	narSuffix = ".nar"
	tmpSuffix = ".tmp"
)

// OpenNARCache opens the NAR cache in dir, creating dir if need be, with
// a bound of max bytes. It keeps the entries dir holds, the most recently
// written first, up to the bound, and removes unfinished ones.
func OpenNARCache(dir string, max int64) (*NARCache, error) {
	if max <= 0 {
		return nil, fmt.Errorf("NAR cache %s: size bound %d is not positive", dir, max)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("NAR cache: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("NAR cache: %w", err)
	}
	c := &NARCache{dir: dir, max: max, m: make(map[narfmt.Hash]*list.Element), filling: make(map[narfmt.Hash]bool)}
	type found struct {
		e   *narEntry
		mod time.Time
	}
	var all []found
	for _, de := range ents {
		name := de.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		h, err := narfmt.ParseHash(strings.TrimSuffix(name, narSuffix))
		if err != nil || !strings.HasSuffix(name, narSuffix) || !de.Type().IsRegular() {
			continue // not ours
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		all = append(all, found{&narEntry{hash: h, size: fi.Size()}, fi.ModTime()})
	}
	slices.SortFunc(all, func(a, b found) int { return a.mod.Compare(b.mod) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range all {
		c.m[f.e.hash] = c.lru.PushFront(f.e)
		c.size += f.e.size
	}
	c.evict()
	return c, nil
}

func (c *NARCache) path(h narfmt.Hash) string {
	return filepath.Join(c.dir, h.String()+narSuffix)
}

// has reports whether the cache holds NAR h.
func (c *NARCache) has(h narfmt.Hash) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[h]
	return ok
}

// open returns the cached NAR h of size bytes, checked as it is read, or
// nil if the cache does not hold it.
func (c *NARCache) open(h narfmt.Hash, size uint64) io.ReadCloser {
	c.mu.Lock()
	el, ok := c.m[h]
	if ok {
		c.lru.MoveToFront(el)
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	f, err := os.Open(c.path(h))
	if err != nil {
		c.drop(h)
		return nil
	}
	if fi, err := f.Stat(); err != nil || uint64(fi.Size()) != size {
		f.Close()
		c.drop(h)
		return nil
	}
	return &cachedNAR{c: c, h: h, f: f, r: narstore.Verify(f, h, size)}
}

// cachedNAR is a cache entry being read. An entry found damaged is
// removed.
type cachedNAR struct {
	c *NARCache
	h narfmt.Hash
	f *os.File
	r io.Reader
}

func (n *cachedNAR) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		n.c.drop(n.h)
		err = fmt.Errorf("NAR cache %s: %w", n.c.path(n.h), err)
	}
	return k, err
}

func (n *cachedNAR) Close() error { return n.f.Close() }

// drop removes entry h.
func (c *NARCache) drop(h narfmt.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[h]; ok {
		c.remove(el)
	}
}

// remove deletes an entry and its file; c.mu is held.
func (c *NARCache) remove(el *list.Element) {
	e := el.Value.(*narEntry)
	c.lru.Remove(el)
	delete(c.m, e.hash)
	c.size -= e.size
	os.Remove(c.path(e.hash))
}

// evict removes the least recently served entries beyond the bound; c.mu
// is held.
func (c *NARCache) evict() {
	for c.size > c.max && c.lru.Len() > 0 {
		c.remove(c.lru.Back())
	}
}

// fill returns rc, the repository's stream of NAR h of size bytes, that
// also writes what it reads to a new entry, added once rc reaches its end
// (which it does only after the NarHash check passed). It returns rc
// itself if the cache holds h, another request is writing it, or it is
// larger than the bound.
func (c *NARCache) fill(rc io.ReadCloser, h narfmt.Hash, size uint64) io.ReadCloser {
	c.mu.Lock()
	_, held := c.m[h]
	if held || c.filling[h] || size > uint64(c.max) {
		c.mu.Unlock()
		return rc
	}
	c.filling[h] = true
	c.mu.Unlock()
	f, err := os.CreateTemp(c.dir, "*"+tmpSuffix)
	if err != nil {
		c.done(h)
		return rc
	}
	return &narFill{ReadCloser: rc, c: c, h: h, size: size, f: f}
}

// done ends the writing of entry h; c.mu is not held.
func (c *NARCache) done(h narfmt.Hash) {
	c.mu.Lock()
	delete(c.filling, h)
	c.mu.Unlock()
}

// narFill is a repository stream that writes what it reads to a cache
// entry. A write error only loses the entry, never the stream.
type narFill struct {
	io.ReadCloser
	c    *NARCache
	h    narfmt.Hash
	size uint64
	f    *os.File // nil once committed or abandoned
	n    uint64
	err  error
}

func (w *narFill) Read(p []byte) (int, error) {
	n, err := w.ReadCloser.Read(p)
	if w.f != nil && w.err == nil && n > 0 {
		_, w.err = w.f.Write(p[:n])
		w.n += uint64(n)
	}
	if errors.Is(err, io.EOF) && w.f != nil {
		w.commit()
	}
	return n, err
}

// commit adds the entry, checked to its end, to the cache.
func (w *narFill) commit() {
	f := w.f
	w.f = nil
	defer w.c.done(w.h)
	err := w.err
	if err == nil && w.n != w.size {
		err = fmt.Errorf("wrote %d bytes of %d", w.n, w.size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), w.c.path(w.h))
	}
	if err != nil {
		os.Remove(f.Name())
		return
	}
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[w.h] = c.lru.PushFront(&narEntry{hash: w.h, size: int64(w.size)})
	c.size += int64(w.size)
	c.stored++
	c.evict()
}

// Close abandons an entry not read to its end.
func (w *narFill) Close() error {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
		w.c.done(w.h)
	}
	return w.ReadCloser.Close()
}

// Stats returns the number of entries and their total size.
func (c *NARCache) Stats() (entries int, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.size
}
