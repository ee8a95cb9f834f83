package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/nardedup/nardedup/internal/filecache"
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
	dir   string
	files *filecache.Cache[narfmt.Hash, struct{}]

	mu      sync.Mutex
	filling map[narfmt.Hash]bool // being written by a request
	stored  int64                // entries written since opening
}

// narEntry is one cached NAR.
type narEntry = filecache.Entry[narfmt.Hash, struct{}]

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
	c := &NARCache{dir: dir, files: filecache.New[narfmt.Hash, struct{}](max, dir), filling: make(map[narfmt.Hash]bool)}
	var all []filecache.Found[narfmt.Hash, struct{}]
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
		all = append(all, filecache.Found[narfmt.Hash, struct{}]{Entry: c.entry(h, fi.Size()), Mtime: fi.ModTime()})
	}
	c.files.Adopt(all)
	return c, nil
}

func (c *NARCache) path(h narfmt.Hash) string {
	return filepath.Join(c.dir, h.String()+narSuffix)
}

func (c *NARCache) entry(h narfmt.Hash, size int64) narEntry {
	return narEntry{Key: h, Path: c.path(h), Size: size}
}

// has reports whether the cache holds NAR h.
func (c *NARCache) has(h narfmt.Hash) bool {
	_, ok := c.files.Peek(h)
	return ok
}

// open returns the cached NAR h of size bytes, checked as it is read, or
// nil if the cache does not hold it.
func (c *NARCache) open(h narfmt.Hash, size uint64) io.ReadCloser {
	e, ok := c.files.Get(h)
	if !ok {
		return nil
	}
	f, err := os.Open(e.Path)
	if err != nil {
		c.files.Drop(e)
		return nil
	}
	if fi, err := f.Stat(); err != nil || uint64(fi.Size()) != size {
		f.Close()
		c.files.Drop(e)
		return nil
	}
	return &cachedNAR{c: c, e: e, f: f, r: narstore.Verify(f, h, size)}
}

// cachedNAR is a cache entry being read. An entry found damaged is
// removed.
type cachedNAR struct {
	c *NARCache
	e *narEntry
	f *os.File
	r io.Reader
}

func (n *cachedNAR) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		n.c.files.Drop(n.e)
		err = fmt.Errorf("NAR cache %s: %w", n.e.Path, err)
	}
	return k, err
}

func (n *cachedNAR) Close() error { return n.f.Close() }

// fill returns rc, the repository's stream of NAR h of size bytes, that
// also writes what it reads to a new entry, added once rc reaches its end
// (which it does only after the NarHash check passed). It returns rc
// itself if the cache holds h, another request is writing it, or it is
// larger than the bound.
func (c *NARCache) fill(rc io.ReadCloser, h narfmt.Hash, size uint64) io.ReadCloser {
	c.mu.Lock()
	if c.has(h) || c.filling[h] || size > uint64(c.files.Max()) {
		c.mu.Unlock()
		return rc
	}
	c.filling[h] = true
	c.mu.Unlock()
	f, err := c.files.CreateTemp("*" + tmpSuffix)
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
		err = w.c.files.Commit(f.Name(), w.c.entry(w.h, int64(w.size)))
	} else {
		os.Remove(f.Name())
	}
	if err == nil {
		w.c.mu.Lock()
		w.c.stored++
		w.c.mu.Unlock()
	}
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
	s := c.files.Stats()
	return s.Entries, s.Bytes
}
