package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
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

// ErrBusy is returned when another process holds the local index.
var ErrBusy = errors.New("chunkstore: local index is in use by another process")

// Index is the local bbolt cache of every pack's table of contents. Its
// methods are safe for concurrent use.
type Index struct {
	db   *bolt.DB
	path string
}

// errDamaged is wrapped when the local index file is not a usable
// bbolt database.
var errDamaged = errors.New("chunkstore: local index is damaged")

// Open opens the local index at path, creating it if needed. The file
// is derived data: one that is damaged (truncated, overwritten) is removed
// and created anew, empty, for the store to fill from the index objects.
func Open(path string) (*Index, error) {
	x, err := openFile(path)
	if errors.Is(err, errDamaged) {
		if rerr := os.Remove(path); rerr != nil {
			return nil, fmt.Errorf("%w; removing it: %v (run nardedup rebuild-index)", err, rerr)
		}
		x, err = openFile(path)
	}
	return x, err
}

// openFile opens the bbolt file at path and creates its buckets. bbolt
// panics on some damaged files, or faults reading past the end of a
// truncated one: either is returned as errDamaged.
func openFile(path string) (x *Index, err error) {
	var f *os.File
	// A truncated file makes bbolt read past its end through the memory
	// map, a fault that would kill the process: make it a panic here.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if f != nil {
				f.Close() // releases the file lock bbolt took
			}
			x, err = nil, fmt.Errorf("%w: %s: %v", errDamaged, path, p)
		}
	}()
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err = os.OpenFile(name, flag, perm)
			return f, err
		}})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s", ErrBusy, path)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch), err != nil && strings.Contains(err.Error(), "file size too small"):
		return nil, fmt.Errorf("%w: %s: %v", errDamaged, path, err)
	case err != nil:
		return nil, fmt.Errorf("chunkstore: open local index %s: %w", path, err)
	}
	x = &Index{db: db, path: path}
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
		err = fmt.Errorf("%w: %s: layout of another version", errDamaged, path)
	}
	if err != nil {
		db.Close()
		if errors.Is(err, errDamaged) {
			return nil, err
		}
		return nil, fmt.Errorf("chunkstore: local index %s: %w", path, err)
	}
	return x, nil
}

// view and update run a bbolt transaction. bbolt panics on some damage to
// its file: the panic is returned as an error naming the file.
func (x *Index) view(fn func(*bolt.Tx) error) error   { return x.guard(x.db.View, fn) }
func (x *Index) update(fn func(*bolt.Tx) error) error { return x.guard(x.db.Update, fn) }

func (x *Index) guard(run func(func(*bolt.Tx) error) error, fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s: %v (run nardedup rebuild-index)", errDamaged, x.path, p)
		}
	}()
	return run(fn)
}

// Close closes the file.
func (x *Index) Close() error { return x.db.Close() }

// Found says what a lookup found.
type Found uint8

const (
	FoundNone    Found = iota // no location
	FoundAvoided              // only locations in packs the caller avoids
	FoundOK                   // a location in a pack the caller does not avoid
)

// seek returns the first location of id in a pack that avoid does not
// reject (FoundOK), or else the first location of all (FoundAvoided). A
// chunk stored in several packs has one entry for each; they sort by pack
// id, so every process reading the same index objects picks the same one.
func seek(c *bolt.Cursor, id pack.ID, avoid func(pack.ID) bool) (Location, Found, error) {
	var first Location
	res := FoundNone
	for k, v := c.Seek(id[:]); k != nil && len(k) == 2*pack.IDSize && pack.ID(k[:pack.IDSize]) == id; k, v = c.Next() {
		loc, err := decodeLocation(k[pack.IDSize:], v)
		if err != nil {
			return loc, FoundNone, err
		}
		if avoid == nil || !avoid(loc.Pack) {
			return loc, FoundOK, nil
		}
		if res == FoundNone {
			first, res = loc, FoundAvoided
		}
	}
	return first, res, nil
}

// Lookup returns the first location of chunk id in a pack that avoid (if
// not nil) does not reject (FoundOK), or else the first location of all
// (FoundAvoided). A chunk stored in several packs has one entry for each;
// they sort by pack id, so every process reading the same index objects
// picks the same one.
func (x *Index) Lookup(id pack.ID, avoid func(pack.ID) bool) (loc Location, f Found, err error) {
	err = x.view(func(tx *bolt.Tx) error {
		loc, f, err = seek(tx.Bucket(bucketChunks).Cursor(), id, avoid)
		return err
	})
	return loc, f, err
}

// LookupMany looks up every id in one read transaction, setting locs[i] and
// ok[i] for ids[i] (see Lookup). A location in an avoided pack counts as
// found.
func (x *Index) LookupMany(ids []pack.ID, locs []Location, ok []bool, avoid func(pack.ID) bool) error {
	return x.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketChunks).Cursor()
		for i, id := range ids {
			loc, f, err := seek(c, id, avoid)
			if err != nil {
				return err
			}
			locs[i], ok[i] = loc, f != FoundNone
		}
		return nil
	})
}

// Locations calls fn with every location of chunk id, in pack id order.
func (x *Index) Locations(id pack.ID, fn func(Location) error) error {
	return x.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketChunks).Cursor()
		for k, v := c.Seek(id[:]); k != nil && len(k) == 2*pack.IDSize && pack.ID(k[:pack.IDSize]) == id; k, v = c.Next() {
			loc, err := decodeLocation(k[pack.IDSize:], v)
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

// HasPack reports whether pack id is indexed.
func (x *Index) HasPack(id pack.ID) (ok bool, err error) {
	err = x.view(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketPacks).Get(id[:]) != nil
		return nil
	})
	return ok, err
}

// Packs calls fn with the id of every indexed pack, in id order.
func (x *Index) Packs(fn func(pack.ID) error) error {
	return x.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPacks).ForEach(func(k, _ []byte) error {
			if len(k) != pack.IDSize {
				return fmt.Errorf("%w: local index: pack key of %d bytes", pack.ErrCorrupt, len(k))
			}
			return fn(pack.ID(k))
		})
	})
}

// PackChunks calls fn with the location of every chunk of an indexed
// pack, in chunk id order.
func (x *Index) PackChunks(p pack.ID, fn func(pack.ID, Location) error) error {
	return x.view(func(tx *bolt.Tx) error {
		chunks := tx.Bucket(bucketChunks)
		c := tx.Bucket(bucketPackChunks).Cursor()
		key := make([]byte, 2*pack.IDSize)
		copy(key[pack.IDSize:], p[:])
		for k, _ := c.Seek(p[:]); k != nil && len(k) == 2*pack.IDSize && pack.ID(k[:pack.IDSize]) == p; k, _ = c.Next() {
			copy(key, k[pack.IDSize:])
			loc, err := decodeLocation(p[:], chunks.Get(key))
			if err != nil {
				return err
			}
			if err := fn(pack.ID(k[pack.IDSize:]), loc); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddPack records every chunk of a pack.
func (x *Index) AddPack(p pack.ID, toc *pack.TOC) error {
	return x.update(func(tx *bolt.Tx) error {
		chunks := tx.Bucket(bucketChunks)
		pc := tx.Bucket(bucketPackChunks)
		key := make([]byte, 2*pack.IDSize)
		for _, c := range toc.Chunks {
			f := toc.Frames[c.Frame]
			loc := Location{FrameOffset: f.Offset, FrameCLen: f.CLen,
				FrameULen: f.ULen, Offset: c.Offset, Length: c.Length}
			copy(key, c.ID[:])
			copy(key[pack.IDSize:], p[:])
			if err := chunks.Put(key, loc.encode()); err != nil {
				return err
			}
			copy(key, p[:])
			copy(key[pack.IDSize:], c.ID[:])
			if err := pc.Put(key, nil); err != nil {
				return err
			}
		}
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(toc.Chunks)))
		return tx.Bucket(bucketPacks).Put(p[:], n[:])
	})
}

// RemovePack forgets a pack and every location in it.
func (x *Index) RemovePack(p pack.ID) error {
	return x.update(func(tx *bolt.Tx) error {
		chunks := tx.Bucket(bucketChunks)
		c := tx.Bucket(bucketPackChunks).Cursor()
		key := make([]byte, 2*pack.IDSize)
		copy(key[pack.IDSize:], p[:])
		for k, _ := c.Seek(p[:]); k != nil && len(k) == 2*pack.IDSize && pack.ID(k[:pack.IDSize]) == p; k, _ = c.Seek(p[:]) {
			copy(key, k[pack.IDSize:])
			if err := chunks.Delete(key); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketPacks).Delete(p[:])
	})
}

// Stats returns the number of indexed packs and chunk locations.
func (x *Index) Stats() (packs, chunks int, err error) {
	err = x.view(func(tx *bolt.Tx) error {
		packs = tx.Bucket(bucketPacks).Stats().KeyN
		chunks = tx.Bucket(bucketChunks).Stats().KeyN
		return nil
	})
	return packs, chunks, err
}
