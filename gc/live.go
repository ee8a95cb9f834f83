package gc

import (
	"bytes"
	"fmt"
	"os"
	"slices"

	"github.com/nardedup/nardedup/chunkstore"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketChunks    = []byte("chunks")
	bucketManifests = []byte("manifests")
	bucketNamed     = []byte("named")
)

// liveSet is the set of live chunk ids and manifest keys, and of the
// packs that the kept manifests' location tables name, kept in a
// temporary bbolt file so that memory does not grow with the repository:
// the ids take disk and page cache, not heap. Ids are inserted in sorted
// batches, but they are random, so the tree's pages end up part empty:
// BenchmarkLiveSet measures about 230 bytes of file per id (a billion live
// chunks: about 230 GB of --temp-dir). A sorted file of ids would take 32.
type liveSet struct {
	db      *bolt.DB
	path    string
	file    *os.File // the same file, opened for diskSize
	pending []chunkstore.ID
	chunks  int
}

const liveBatch = 1 << 16

func newLiveSet(dir string) (*liveSet, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "nardedup-gc-*.db")
	if err != nil {
		return nil, fmt.Errorf("gc: live set: %w", err)
	}
	path := f.Name()
	f.Close()
	os.Remove(path)
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("gc: live set %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketChunks, bucketManifests, bucketNamed} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		os.Remove(path)
		return nil, fmt.Errorf("gc: live set %s: %w", path, err)
	}
	// bbolt goes on through its open file, so on Unix the name can go at
	// once: a collection that is killed leaves nothing behind. Where an
	// open file cannot be removed, close removes it. file tells the size.
	file, err := os.Open(path)
	if err != nil {
		db.Close()
		os.Remove(path)
		return nil, fmt.Errorf("gc: live set: %w", err)
	}
	os.Remove(path)
	return &liveSet{db: db, path: path, file: file}, nil
}

// addChunks marks ids live. Call flush before reading.
func (l *liveSet) addChunks(ids []chunkstore.ID) error {
	l.pending = append(l.pending, ids...)
	if len(l.pending) >= liveBatch {
		return l.flush()
	}
	return nil
}

func (l *liveSet) flush() error {
	if len(l.pending) == 0 {
		return nil
	}
	slices.SortFunc(l.pending, func(a, b chunkstore.ID) int { return bytes.Compare(a[:], b[:]) })
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChunks)
		b.FillPercent = 0.9
		for i, id := range l.pending {
			if i > 0 && id == l.pending[i-1] {
				continue
			}
			if b.Get(id[:]) != nil {
				continue
			}
			if err := b.Put(id[:], nil); err != nil {
				return err
			}
			l.chunks++
		}
		return nil
	})
	l.pending = l.pending[:0]
	if err != nil {
		return fmt.Errorf("gc: live set %s: %w", l.path, err)
	}
	return nil
}

// markManifest marks a manifest key live and reports whether it was new.
func (l *liveSet) markManifest(key string) (bool, error) {
	isNew := false
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketManifests)
		if b.Get([]byte(key)) != nil {
			return nil
		}
		isNew = true
		return b.Put([]byte(key), nil)
	})
	if err != nil {
		return false, fmt.Errorf("gc: live set %s: %w", l.path, err)
	}
	return isNew, nil
}

// addNamed records that a kept manifest's locations name these packs.
func (l *liveSet) addNamed(packs []chunkstore.ID) error {
	if len(packs) == 0 {
		return nil
	}
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNamed)
		for _, p := range packs {
			if err := b.Put(p[:], nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gc: live set %s: %w", l.path, err)
	}
	return nil
}

// forNamed calls fn with every pack addNamed recorded, in one read
// transaction.
func (l *liveSet) forNamed(fn func(chunkstore.ID) error) error {
	return l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNamed).ForEach(func(k, _ []byte) error {
			var id chunkstore.ID
			copy(id[:], k)
			return fn(id)
		})
	})
}

func (l *liveSet) hasManifest(key string) (ok bool, err error) {
	err = l.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketManifests).Get([]byte(key)) != nil
		return nil
	})
	return ok, err
}

// reader returns a function that tests chunk ids for liveness inside one
// read transaction, and a function that ends it.
func (l *liveSet) reader() (has func(chunkstore.ID) bool, done func(), err error) {
	tx, err := l.db.Begin(false)
	if err != nil {
		return nil, nil, fmt.Errorf("gc: live set %s: %w", l.path, err)
	}
	b := tx.Bucket(bucketChunks)
	return func(id chunkstore.ID) bool { return b.Get(id[:]) != nil }, func() { tx.Rollback() }, nil
}

// diskSize returns the size of the live set's file.
func (l *liveSet) diskSize() (int64, error) {
	fi, err := l.file.Stat()
	if err != nil {
		return 0, fmt.Errorf("gc: live set: %w", err)
	}
	return fi.Size(), nil
}

func (l *liveSet) close() error {
	err := l.db.Close()
	l.file.Close()
	os.Remove(l.path)
	return err
}
