package cache

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
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

// disk is the set of cache files with their LRU order (front: most recent).
type disk struct {
	dir, tmp string
	max      int64

	mu               sync.Mutex
	entries          map[entryID]*list.Element
	lru              list.List
	total            int64
	epoch            uint64 // bumped by dropKey
	evicted, dropped int64
}

// read returns the data of entry id if it is cached and intact; a damaged
// file is dropped.
func (d *disk) read(id entryID) ([]byte, bool) {
	d.mu.Lock()
	el, ok := d.entries[id]
	d.mu.Unlock()
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	p := e.path(d.dir)
	data, err := os.ReadFile(p)
	if err != nil || int64(len(data)) != e.size || crc32.Checksum(data, castagnoli) != e.crc {
		d.mu.Lock()
		if d.entries[id] == el {
			d.remove(el)
			d.dropped++
		}
		d.mu.Unlock()
		return nil, false
	}
	d.mu.Lock()
	if d.entries[id] == el {
		d.lru.MoveToFront(el)
	}
	d.mu.Unlock()
	now := time.Now()
	os.Chtimes(p, now, now) // keeps the order across restarts; best effort
	return data, true
}

// store writes data as entry id unless dropKey ran since epoch, then
// evicts the least recently used entries beyond the size bound.
func (d *disk) store(id entryID, data []byte, epoch uint64) {
	e := &entry{id: id, size: int64(len(data)), crc: crc32.Checksum(data, castagnoli)}
	if e.size > d.max {
		return
	}
	tmp, err := d.writeTemp(data)
	if err != nil {
		return
	}
	p := e.path(d.dir)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.epoch != epoch {
		os.Remove(tmp)
		return
	}
	if el, ok := d.entries[id]; ok {
		d.remove(el)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return
	}
	d.add(e)
	d.evict()
}

func (d *disk) writeTemp(data []byte) (string, error) {
	f, err := os.CreateTemp(d.tmp, "entry-*")
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

// add puts e at the front; d.mu is held.
func (d *disk) add(e *entry) {
	d.entries[e.id] = d.lru.PushFront(e)
	d.total += e.size
}

// remove forgets el and deletes its file; d.mu is held.
func (d *disk) remove(el *list.Element) {
	e := el.Value.(*entry)
	d.lru.Remove(el)
	delete(d.entries, e.id)
	d.total -= e.size
	os.Remove(e.path(d.dir))
}

// evict removes least recently used entries until the bound holds; d.mu
// is held.
func (d *disk) evict() {
	for d.total > d.max && d.lru.Len() > 0 {
		d.remove(d.lru.Back())
		d.evicted++
	}
}

// dropKey removes every entry of key.
func (d *disk) dropKey(key string) {
	h := keyHash(key)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.epoch++
	for id, el := range d.entries {
		if id.key == h {
			d.remove(el)
		}
	}
}

// size returns the size of entry id if it is cached.
func (d *disk) size(id entryID) (int64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.entries[id]; ok {
		return el.Value.(*entry).size, true
	}
	return 0, false
}

func (d *disk) epochNow() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.epoch
}

func (d *disk) stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Stats{Evictions: d.evicted, Dropped: d.dropped, Entries: d.lru.Len(), Bytes: d.total}
}

// openDisk prepares dir and adopts the entries already in it, oldest
// modification time first, evicting beyond max.
func openDisk(dir string, max int64) (*disk, error) {
	d := &disk{dir: dir, tmp: filepath.Join(dir, "tmp"), max: max, entries: make(map[entryID]*list.Element)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(d.tmp); err != nil {
		return nil, fmt.Errorf("clear temporary files: %w", err)
	}
	if err := os.Mkdir(d.tmp, 0o755); err != nil {
		return nil, err
	}
	found, err := scan(dir)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(found, func(a, b adopted) int { return a.mtime.Compare(b.mtime) })
	for _, f := range found {
		if el, ok := d.entries[f.e.id]; ok { // the same range twice: keep the newer
			d.remove(el)
		}
		d.add(f.e)
	}
	d.evict()
	return d, nil
}

type adopted struct {
	e     *entry
	mtime time.Time
}

// scan lists the entry files under dir, removing files in its entry
// directories that are not entries or have the wrong size.
func scan(dir string) ([]adopted, error) {
	subs, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var found []adopted
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
			found = append(found, adopted{e, info.ModTime()})
		}
	}
	return found, nil
}
