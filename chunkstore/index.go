package chunkstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	bucketChunks = []byte("chunks")
	bucketPacks  = []byte("packs")
)

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

const locSize = IDSize + 8 + 4*4

func (l *Location) encode() []byte {
	b := make([]byte, 0, locSize)
	b = append(b, l.Pack[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(l.FrameOffset))
	b = binary.BigEndian.AppendUint32(b, l.FrameCLen)
	b = binary.BigEndian.AppendUint32(b, l.FrameULen)
	b = binary.BigEndian.AppendUint32(b, l.Offset)
	return binary.BigEndian.AppendUint32(b, l.Length)
}

func decodeLocation(b []byte) (Location, error) {
	var l Location
	if len(b) != locSize {
		return l, fmt.Errorf("%w: local index entry of %d bytes", ErrCorrupt, len(b))
	}
	copy(l.Pack[:], b)
	b = b[IDSize:]
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
	err = x.update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketChunks, bucketPacks} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
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

// lookup returns the location of a chunk, or false if the index has none.
func (x *index) lookup(id ID) (loc Location, ok bool, err error) {
	err = x.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketChunks).Get(id[:])
		if v == nil {
			return nil
		}
		ok = true
		loc, err = decodeLocation(v)
		return err
	})
	return loc, ok, err
}

// lookupMany looks up every id in one read transaction, setting locs[i] and
// found[i] for ids[i].
func (x *index) lookupMany(ids []ID, locs []Location, found []bool) error {
	return x.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChunks)
		for i, id := range ids {
			v := b.Get(id[:])
			found[i] = v != nil
			if v == nil {
				continue
			}
			loc, err := decodeLocation(v)
			if err != nil {
				return err
			}
			locs[i] = loc
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

// addPack records every chunk of a pack. A chunk already indexed elsewhere
// keeps its first location.
func (x *index) addPack(pack ID, toc *TOC) error {
	return x.update(func(tx *bolt.Tx) error {
		chunks := tx.Bucket(bucketChunks)
		for _, c := range toc.Chunks {
			if chunks.Get(c.ID[:]) != nil {
				continue
			}
			f := toc.Frames[c.Frame]
			loc := Location{Pack: pack, FrameOffset: f.Offset, FrameCLen: f.CLen,
				FrameULen: f.ULen, Offset: c.Offset, Length: c.Length}
			if err := chunks.Put(c.ID[:], loc.encode()); err != nil {
				return err
			}
		}
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(toc.Chunks)))
		return tx.Bucket(bucketPacks).Put(pack[:], n[:])
	})
}

// stats returns the number of indexed packs and chunks.
func (x *index) stats() (packs, chunks int, err error) {
	err = x.view(func(tx *bolt.Tx) error {
		packs = tx.Bucket(bucketPacks).Stats().KeyN
		chunks = tx.Bucket(bucketChunks).Stats().KeyN
		return nil
	})
	return packs, chunks, err
}
