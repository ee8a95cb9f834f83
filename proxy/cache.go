package proxy

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/internal/filecache"
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
	dir   string                                  // "": in memory
	files *filecache.Cache[chunkstore.ID, []byte] // value: the data in memory, nil on disk
}

func newChunkCache(max int64) *chunkCache {
	return &chunkCache{files: filecache.New[chunkstore.ID, []byte](max, "")}
}

// openChunkCache returns a cache in dir (created if missing) holding the
// chunks already there, least recently used evicted beyond max.
func openChunkCache(dir string, max int64) (*chunkCache, error) {
	tmp := filepath.Join(dir, "tmp")
	if err := filecache.ClearTemp(tmp); err != nil {
		return nil, fmt.Errorf("proxy: cache %s: %w", dir, err)
	}
	c := &chunkCache{dir: dir, files: filecache.New[chunkstore.ID, []byte](max, tmp)}
	var all []filecache.Found[chunkstore.ID, []byte]
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
			e := filecache.Entry[chunkstore.ID, []byte]{Key: id, Path: c.path(id), Size: info.Size()}
			all = append(all, filecache.Found[chunkstore.ID, []byte]{Entry: e, Mtime: info.ModTime()})
		}
	}
	c.files.Adopt(all)
	return c, nil
}

// path returns the file of chunk id.
func (c *chunkCache) path(id chunkstore.ID) string {
	h := hex.EncodeToString(id[:])
	return filepath.Join(c.dir, h[:2], h)
}

// get returns the chunk id if the cache holds it intact.
func (c *chunkCache) get(id chunkstore.ID) ([]byte, bool) {
	e, ok := c.files.Get(id)
	if !ok {
		return nil, false
	}
	if c.dir == "" {
		return e.Value, true
	}
	data, err := os.ReadFile(e.Path)
	if err != nil || int64(len(data)) != e.Size || chunkstore.Sum(data) != id {
		c.files.Drop(e)
		return nil, false
	}
	filecache.Touch(e.Path)
	return data, true
}

// add keeps a copy of chunk id, evicting the least recently used chunks
// beyond the bound. A chunk larger than the bound is not kept, nor one
// that cannot be written.
func (c *chunkCache) add(id chunkstore.ID, data []byte) {
	if int64(len(data)) > c.files.Max() {
		return
	}
	if _, ok := c.files.Get(id); ok {
		return
	}
	e := filecache.Entry[chunkstore.ID, []byte]{Key: id, Size: int64(len(data))}
	if c.dir == "" {
		e.Value = append([]byte(nil), data...)
		c.files.Commit("", e)
		return
	}
	tmp, err := c.files.WriteTemp("chunk-*", data)
	if err != nil {
		return
	}
	e.Path = c.path(id)
	c.files.Commit(tmp, e) // one added meanwhile had the same bytes
}

// stats returns the chunks and bytes held, and the chunks evicted and
// dropped as damaged.
func (c *chunkCache) stats() (chunks int, bytes, evicted, dropped int64) {
	s := c.files.Stats()
	return s.Entries, s.Bytes, s.Evicted, s.Dropped
}
