package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/nardedup/nardedup/internal/filecache"
)

// entryID names one cached range: the key's hash, offset and length.
type entryID struct {
	key    [16]byte
	offset int64
	length int64
}

func keyHash(key string) [16]byte {
	sum := sha256.Sum256([]byte(key))
	return [16]byte(sum[:16])
}

func makeID(key string, offset, length int64) entryID {
	return entryID{key: keyHash(key), offset: offset, length: length}
}

// entry is one cache file: DIR/<first two hex digits>/<name>.
type entry struct {
	id   entryID
	size int64
	crc  uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// name is HASH_OFFSET_LENGTH_SIZE_CRC.
func (e *entry) name() string {
	h := hex.EncodeToString(e.id.key[:])
	return fmt.Sprintf("%s_%d_%d_%d_%08x", h, e.id.offset, e.id.length, e.size, e.crc)
}

func (e *entry) path(dir string) string {
	n := e.name()
	return filepath.Join(dir, n[:2], n)
}

// file returns e as an entry of the cache in dir.
func (e *entry) file(dir string) filecache.Entry[entryID, uint32] {
	return filecache.Entry[entryID, uint32]{Key: e.id, Path: e.path(dir), Size: e.size, Value: e.crc}
}

// parseName is the inverse of name.
func parseName(n string) (*entry, bool) {
	f := strings.Split(n, "_")
	if len(f) != 5 || len(f[0]) != 32 {
		return nil, false
	}
	h, err := hex.DecodeString(f[0])
	off, err1 := strconv.ParseInt(f[1], 10, 64)
	length, err2 := strconv.ParseInt(f[2], 10, 64)
	size, err3 := strconv.ParseInt(f[3], 10, 64)
	crc, err4 := strconv.ParseUint(f[4], 16, 32)
	if err != nil || err1 != nil || err2 != nil || err3 != nil || err4 != nil || size < 0 || len(f[4]) != 8 {
		return nil, false
	}
	e := &entry{id: entryID{key: [16]byte(h), offset: off, length: length}, size: size, crc: uint32(crc)}
	return e, e.name() == n
}

// disk is the set of cache files with their LRU order; an entry's value
// is its CRC-32C.
type disk struct {
	dir   string
	files *filecache.Cache[entryID, uint32]

	mu    sync.Mutex // orders store against dropKey
	epoch uint64     // bumped by dropKey
}

// read returns the data of entry id if it is cached and intact; a damaged
// file is dropped.
func (d *disk) read(id entryID) ([]byte, bool) {
	e, ok := d.files.Get(id)
	if !ok {
		return nil, false
	}
	data, err := os.ReadFile(e.Path)
	if err != nil || int64(len(data)) != e.Size || crc32.Checksum(data, castagnoli) != e.Value {
		d.files.Drop(e)
		return nil, false
	}
	filecache.Touch(e.Path)
	return data, true
}

// store writes data as entry id unless dropKey ran since epoch, then
// evicts the least recently used entries beyond the size bound.
func (d *disk) store(id entryID, data []byte, epoch uint64) {
	e := &entry{id: id, size: int64(len(data)), crc: crc32.Checksum(data, castagnoli)}
	if e.size > d.files.Max() {
		return
	}
	tmp, err := d.files.WriteTemp("entry-*", data)
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.epoch != epoch {
		os.Remove(tmp)
		return
	}
	d.files.Commit(tmp, e.file(d.dir))
}

// dropKey removes every entry of key.
func (d *disk) dropKey(key string) {
	h := keyHash(key)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.epoch++
	d.files.RemoveFunc(func(e *filecache.Entry[entryID, uint32]) bool { return e.Key.key == h })
}

// size returns the size of entry id if it is cached.
func (d *disk) size(id entryID) (int64, bool) {
	if e, ok := d.files.Peek(id); ok {
		return e.Size, true
	}
	return 0, false
}

func (d *disk) epochNow() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.epoch
}

func (d *disk) stats() Stats {
	s := d.files.Stats()
	return Stats{Evictions: s.Evicted, Dropped: s.Dropped, Entries: s.Entries, Bytes: s.Bytes}
}

// openDisk prepares dir and adopts the entries already in it, oldest
// modification time first, evicting beyond max.
func openDisk(dir string, max int64) (*disk, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, "tmp")
	if err := filecache.ClearTemp(tmp); err != nil {
		return nil, fmt.Errorf("clear temporary files: %w", err)
	}
	found, err := scan(dir)
	if err != nil {
		return nil, err
	}
	d := &disk{dir: dir, files: filecache.New[entryID, uint32](max, tmp)}
	d.files.Adopt(found)
	return d, nil
}

// scan lists the entry files under dir, removing files in its entry
// directories that are not entries or have the wrong size.
func scan(dir string) ([]filecache.Found[entryID, uint32], error) {
	subs, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var found []filecache.Found[entryID, uint32]
	for _, sub := range subs {
		if _, err := hex.DecodeString(sub.Name()); !sub.IsDir() || len(sub.Name()) != 2 || err != nil {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, sub.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			p := filepath.Join(dir, sub.Name(), f.Name())
			e, ok := parseName(f.Name())
			info, err := f.Info()
			if !ok || err != nil || !info.Mode().IsRegular() || info.Size() != e.size || f.Name()[:2] != sub.Name() {
				os.RemoveAll(p)
				continue
			}
			found = append(found, filecache.Found[entryID, uint32]{Entry: e.file(dir), Mtime: info.ModTime()})
		}
	}
	return found, nil
}
