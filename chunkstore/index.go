package chunkstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nardedup/nardedup/chunkstore/pack"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	bucketMeta       = []byte("meta")
	bucketChunks     = []byte("chunks")     // chunk id | pack id -> location in the pack
	bucketPacks      = []byte("packs")      // pack id -> number of chunks
	bucketPackChunks = []byte("packchunks") // pack id | chunk id -> nothing

	keyVersion = []byte("version")
)

// indexVersion is the layout of the local index file. A file of another
// layout is derived data like any other: it is dropped and rebuilt.
const indexVersion = "2"

// ErrIndexBusy is returned when another process holds the local index.
var ErrIndexBusy = errors.New("chunkstore: local index is in use by another process")

// Location says where a chunk is stored.
type Location struct {
	Pack        ID
	FrameOffset int64  // of the frame in the pack
	FrameCLen   uint32 // compressed frame length
	FrameULen   uint32 // decompressed frame length
	Offset      uint32 // of the chunk in the decompressed frame
	Length      uint32
}

// locSize is the length of a location in the local index, whose key holds
// the pack id.
const locSize = 8 + 4*4

func (l *Location) encode() []byte {
	b := make([]byte, 0, locSize)
	b = binary.BigEndian.AppendUint64(b, uint64(l.FrameOffset))
	b = binary.BigEndian.AppendUint32(b, l.FrameCLen)
	b = binary.BigEndian.AppendUint32(b, l.FrameULen)
	b = binary.BigEndian.AppendUint32(b, l.Offset)
	return binary.BigEndian.AppendUint32(b, l.Length)
}

func decodeLocation(pack, b []byte) (Location, error) {
	var l Location
	if len(b) != locSize || len(pack) != IDSize {
		return l, fmt.Errorf("%w: local index entry of %d bytes", ErrCorrupt, len(b))
	}
	copy(l.Pack[:], pack)
	l.FrameOffset = int64(binary.BigEndian.Uint64(b))
	l.FrameCLen = binary.BigEndian.Uint32(b[8:])
	l.FrameULen = binary.BigEndian.Uint32(b[12:])
	l.Offset = binary.BigEndian.Uint32(b[16:])
	l.Length = binary.BigEndian.Uint32(b[20:])
	return l, nil
}

// index is the local bbolt cache of every pack's table of contents.
type index struct {
	db   *bolt.DB
	path string
}

// errIndexDamaged is wrapped when the local index file is not a usable
// bbolt database.
var errIndexDamaged = errors.New("chunkstore: local index is damaged")

// openIndex opens the local index at path, creating it if needed. The file
// is derived data: one that is damaged (truncated, overwritten) is removed
// and created anew, empty, for Sync to fill from the index objects.
func openIndex(path string) (*index, error) {
	x, err := openIndexFile(path)
	if errors.Is(err, errIndexDamaged) {
		if rerr := os.Remove(path); rerr != nil {
			return nil, fmt.Errorf("%w; removing it: %v (run nardedup rebuild-index)", err, rerr)
		}
		x, err = openIndexFile(path)
	}
	return x, err
}

// openIndexFile opens the bbolt file at path and creates its buckets. bbolt
// panics on some damaged files: the panic is returned as errIndexDamaged.
func openIndexFile(path string) (x *index, err error) {
	var f *os.File
	defer func() {
		if p := recover(); p != nil {
			if f != nil {
				f.Close() // releases the file lock bbolt took
			}
			x, err = nil, fmt.Errorf("%w: %s: %v", errIndexDamaged, path, p)
		}
	}()
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err = os.OpenFile(name, flag, perm)
			return f, err
		}})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s", ErrIndexBusy, path)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch), err != nil && strings.Contains(err.Error(), "file size too small"):
		return nil, fmt.Errorf("%w: %s: %v", errIndexDamaged, path, err)
	case err != nil:
		return nil, fmt.Errorf("chunkstore: open local index %s: %w", path, err)
	}
	x = &index{db: db, path: path}
	stale := false
	err = x.update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		v := meta.Get(keyVersion)
		if v != nil && string(v) != indexVersion {
			stale = true
			return nil
		}
		if err := meta.Put(keyVersion, []byte(indexVersion)); err != nil {
			return err
		}
		for _, name := range [][]byte{bucketChunks, bucketPacks, bucketPackChunks} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && stale {
		err = fmt.Errorf("%w: %s: layout of another version", errIndexDamaged, path)
	}
	if err != nil {
		db.Close()
		if errors.Is(err, errIndexDamaged) {
			return nil, err
		}
		return nil, fmt.Errorf("chunkstore: local index %s: %w", path, err)
	}
	return x, nil
}

// view and update run a bbolt transaction. bbolt panics on some damage to
// its file: the panic is returned as an error naming the file.
func (x *index) view(fn func(*bolt.Tx) error) error   { return x.guard(x.db.View, fn) }
func (x *index) update(fn func(*bolt.Tx) error) error { return x.guard(x.db.Update, fn) }

func (x *index) guard(run func(func(*bolt.Tx) error) error, fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s: %v (run nardedup rebuild-index)", errIndexDamaged, x.path, p)
		}
	}()
	return run(fn)
}

func (x *index) close() error { return x.db.Close() }

// found says what a lookup found.
type found uint8

const (
	foundNone    found = iota // no location
	foundAvoided              // only locations in packs the caller avoids
	foundOK                   // a location in a pack the caller does not avoid
)

// seek returns the first location of id in a pack that avoid does not
// reject (foundOK), or else the first location of all (foundAvoided). A
// chunk stored in several packs has one entry for each; they sort by pack
// id, so every process reading the same index objects picks the same one.
func seek(c *bolt.Cursor, id ID, avoid func(ID) bool) (Location, found, error) {
	var first Location
	res := foundNone
	for k, v := c.Seek(id[:]); k != nil && len(k) == 2*IDSize && ID(k[:IDSize]) == id; k, v = c.Next() {
		loc, err := decodeLocation(k[IDSize:], v)
		if err != nil {
			return loc, foundNone, err
		}
		if avoid == nil || !avoid(loc.Pack) {
			return loc, foundOK, nil
		}
		if res == foundNone {
			first, res = loc, foundAvoided
		}
	}
	return first, res, nil
}

// lookup returns a location of a chunk (see seek).
func (x *index) lookup(id ID, avoid func(ID) bool) (loc Location, f found, err error) {
	err = x.view(func(tx *bolt.Tx) error {
		loc, f, err = seek(tx.Bucket(bucketChunks).Cursor(), id, avoid)
		return err
	})
	return loc, f, err
}

// lookupMany looks up every id in one read transaction, setting locs[i] and
// found[i] for ids[i]. A location in an avoided pack counts as found.
func (x *index) lookupMany(ids []ID, locs []Location, ok []bool, avoid func(ID) bool) error {
	return x.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketChunks).Cursor()
		for i, id := range ids {
			loc, f, err := seek(c, id, avoid)
			if err != nil {
				return err
			}
			locs[i], ok[i] = loc, f != foundNone
		}
		return nil
	})
}

// locations calls fn with every location of chunk id.
func (x *index) locations(id ID, fn func(Location) error) error {
	return x.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketChunks).Cursor()
		for k, v := c.Seek(id[:]); k != nil && len(k) == 2*IDSize && ID(k[:IDSize]) == id; k, v = c.Next() {
			loc, err := decodeLocation(k[IDSize:], v)
			if err != nil {
				return err
			}
			if err := fn(loc); err != nil {
				return err
			}
		}
		return nil
	})
}

func (x *index) hasPack(id ID) (ok bool, err error) {
	err = x.view(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketPacks).Get(id[:]) != nil
		return nil
	})
	return ok, err
}

// packs calls fn with the id of every indexed pack, in id order.
func (x *index) packs(fn func(ID) error) error {
	return x.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPacks).ForEach(func(k, _ []byte) error {
			if len(k) != IDSize {
				return fmt.Errorf("%w: local index: pack key of %d bytes", ErrCorrupt, len(k))
			}
			return fn(ID(k))
		})
	})
}

// packChunks calls fn with the location of every chunk of an indexed
// pack, in chunk id order.
func (x *index) packChunks(pack ID, fn func(ID, Location) error) error {
	return x.view(func(tx *bolt.Tx) error {
		chunks := tx.Bucket(bucketChunks)
		c := tx.Bucket(bucketPackChunks).Cursor()
		key := make([]byte, 2*IDSize)
		copy(key[IDSize:], pack[:])
		for k, _ := c.Seek(pack[:]); k != nil && len(k) == 2*IDSize && ID(k[:IDSize]) == pack; k, _ = c.Next() {
			copy(key, k[IDSize:])
			loc, err := decodeLocation(pack[:], chunks.Get(key))
			if err != nil {
				return err
			}
			if err := fn(ID(k[IDSize:]), loc); err != nil {
				return err
			}
		}
		return nil
	})
}

// addPack records every chunk of a pack.
func (x *index) addPack(packID ID, toc *pack.TOC) error {
	return x.update(func(tx *bolt.Tx) error {
		chunks := tx.Bucket(bucketChunks)
		pc := tx.Bucket(bucketPackChunks)
		key := make([]byte, 2*IDSize)
		for _, c := range toc.Chunks {
			f := toc.Frames[c.Frame]
			loc := Location{FrameOffset: f.Offset, FrameCLen: f.CLen,
				FrameULen: f.ULen, Offset: c.Offset, Length: c.Length}
			copy(key, c.ID[:])
			copy(key[IDSize:], packID[:])
			if err := chunks.Put(key, loc.encode()); err != nil {
				return err
			}
			copy(key, packID[:])
			copy(key[IDSize:], c.ID[:])
			if err := pc.Put(key, nil); err != nil {
				return err
			}
		}
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(toc.Chunks)))
		return tx.Bucket(bucketPacks).Put(packID[:], n[:])
	})
}

// removePack forgets a pack and every location in it.
func (x *index) removePack(pack ID) error {
	return x.update(func(tx *bolt.Tx) error {
		chunks := tx.Bucket(bucketChunks)
		c := tx.Bucket(bucketPackChunks).Cursor()
		key := make([]byte, 2*IDSize)
		copy(key[IDSize:], pack[:])
		for k, _ := c.Seek(pack[:]); k != nil && len(k) == 2*IDSize && ID(k[:IDSize]) == pack; k, _ = c.Seek(pack[:]) {
			copy(key, k[IDSize:])
			if err := chunks.Delete(key); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketPacks).Delete(pack[:])
	})
}

// stats returns the number of indexed packs and chunk locations.
func (x *index) stats() (packs, chunks int, err error) {
	err = x.view(func(tx *bolt.Tx) error {
		packs = tx.Bucket(bucketPacks).Stats().KeyN
		chunks = tx.Bucket(bucketChunks).Stats().KeyN
		return nil
	})
	return packs, chunks, err
}
