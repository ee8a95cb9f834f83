// Package cache wraps a backend.Backend with a bounded local disk cache for
// read-mostly use, such as a server on an S3 repository.
//
// Gets of keys under the cached prefixes (by default packs/, manifests/ and
// index/, all immutable and named by content) are served from files under
// the cache directory when present; otherwise they are fetched from the
// inner backend once, however many callers ask at the same time, written to
// a temporary file, renamed into place and returned. Each cache entry is one
// exact (key, offset, length) request: small objects are read whole, so
// they are cached whole, and pack frames are always read as the same exact
// ranges, so those repeat exactly.
//
// narinfo/ and config are not cached: a narinfo can be deleted by a later
// garbage collection, and a server must then stop offering it; both are
// small and cost one request each.
//
// The total size of the entries stays at most maxBytes: the least recently
// used entries are evicted first. The order is kept in memory; on start the
// files already in the directory are adopted, oldest modification time
// first, and a hit refreshes a file's modification time so that the order
// survives restarts. A cache directory belongs to one process at a time.
//
// Every entry's file name records its size and CRC-32C, so a file that
// fails to read, has the wrong size or the wrong content is dropped and
// fetched again (the chunk store checks every chunk against its BLAKE3 id
// as well). Put, List and Delete pass through; Put and Delete drop the
// key's cached entries. Stat of a key whose whole object is cached answers
// from the cache (a server checks a manifest exists before serving its
// narinfo), other Stats pass through.
package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/repo/layout"
)

// DefaultPrefixes are the key prefixes cached unless WithPrefixes says
// otherwise: objects that are never rewritten with other content.
var DefaultPrefixes = immutablePrefixes()

func immutablePrefixes() []string {
	var p []string
	for _, t := range layout.Types {
		if t.Immutable() {
			p = append(p, t.Prefix())
		}
	}
	return p
}

// MaxEntry bounds one cache entry; a larger Get passes through uncached.
const MaxEntry = 64 << 20

// Option configures New.
type Option func(*Backend)

// WithPrefixes sets the key prefixes that are cached ("" caches every key).
func WithPrefixes(prefixes ...string) Option {
	return func(b *Backend) { b.prefixes = append([]string(nil), prefixes...) }
}

// Stats counts what the cache did since New.
type Stats struct {
	Hits, Misses, Evictions, Dropped int64 // Dropped: damaged files removed
	Entries                          int
	Bytes                            int64
}

// Backend is a caching backend.Backend. It is safe for concurrent use.
type Backend struct {
	inner    backend.Backend
	prefixes []string
	disk     *disk
	maxEntry int64

	mu       sync.Mutex
	inflight map[entryID]*call

	hits, misses atomic.Int64
}

// call is one fetch from the inner backend that concurrent Gets share.
type call struct {
	epoch uint64 // the disk epoch when the fetch began
	done  chan struct{}
	data  []byte
	err   error
}

// errTooLarge tells waiters to fetch for themselves.
var errTooLarge = errors.New("cache: entry too large to cache")

// New returns a Backend that caches inner's objects in dir (created if
// missing) up to maxBytes in total, adopting the entries already there.
func New(inner backend.Backend, dir string, maxBytes int64, opts ...Option) (*Backend, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("cache %s: size %d: want a positive number of bytes", dir, maxBytes)
	}
	d, err := openDisk(dir, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	b := &Backend{inner: inner, prefixes: DefaultPrefixes, disk: d,
		maxEntry: min(maxBytes, MaxEntry), inflight: make(map[entryID]*call)}
	for _, o := range opts {
		o(b)
	}
	return b, nil
}

// Stats returns the cache's counters.
func (b *Backend) Stats() Stats {
	s := b.disk.stats()
	s.Hits, s.Misses = b.hits.Load(), b.misses.Load()
	return s
}

func (b *Backend) cached(key string) bool {
	for _, p := range b.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Get serves a cached range from disk, or fetches, caches and returns it.
func (b *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if !b.cached(key) || offset < 0 || length > b.maxEntry {
		return b.inner.Get(ctx, key, offset, length)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cache get %s: %w", key, err)
	}
	id := makeID(key, offset, length)
	if data, ok := b.disk.read(id); ok {
		b.hits.Add(1)
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	return b.fetch(ctx, id, key, offset, length)
}

// fetch joins or leads the one fetch of id from the inner backend.
func (b *Backend) fetch(ctx context.Context, id entryID, key string, offset, length int64) (io.ReadCloser, error) {
	b.mu.Lock()
	epoch := b.disk.epochNow()
	// A fetch begun before a Put or Delete of a cached key may return the
	// old content: join only one that began since the last of them.
	if c, ok := b.inflight[id]; ok && c.epoch == epoch {
		b.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("cache get %s: %w", key, ctx.Err())
		}
		if c.err != nil { // the leader's failure may be its own (cancelled, too large)
			return b.inner.Get(ctx, key, offset, length)
		}
		b.hits.Add(1)
		return io.NopCloser(bytes.NewReader(c.data)), nil
	}
	c := &call{epoch: epoch, done: make(chan struct{})}
	b.inflight[id] = c
	b.mu.Unlock()
	b.misses.Add(1)

	rc, err := b.load(ctx, c, id, key, offset, length, epoch)
	b.mu.Lock()
	if b.inflight[id] == c {
		delete(b.inflight, id)
	}
	b.mu.Unlock()
	close(c.done)
	return rc, err
}

// load reads the range from the inner backend into c and, unless a Put or
// Delete of a cached key happened meanwhile, stores it as entry id.
func (b *Backend) load(ctx context.Context, c *call, id entryID, key string, offset, length int64, epoch uint64) (io.ReadCloser, error) {
	rc, err := b.inner.Get(ctx, key, offset, length)
	if err != nil {
		c.err = err
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(rc, b.maxEntry+1))
	if err != nil {
		rc.Close()
		c.err = fmt.Errorf("cache get %s: %w", key, err)
		return nil, c.err
	}
	if int64(len(data)) > b.maxEntry {
		c.err = errTooLarge
		return readCloser{io.MultiReader(bytes.NewReader(data), rc), rc}, nil
	}
	if err := rc.Close(); err != nil {
		c.err = fmt.Errorf("cache get %s: %w", key, err)
		return nil, c.err
	}
	c.data = data
	b.disk.store(id, data, epoch) // a cache that cannot write still serves
	return io.NopCloser(bytes.NewReader(data)), nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// invalidate drops the cached entries of key before and after op runs.
func (b *Backend) invalidate(key string, op func() error) error {
	if !b.cached(key) {
		return op()
	}
	b.disk.dropKey(key)
	err := op()
	b.disk.dropKey(key)
	return err
}

// Forget drops the cached entries of key: the next Get reads the inner
// backend. A reader that finds a cached object stale (it was rewritten by
// another process, as an upgrade rewrites manifests) uses it.
func (b *Backend) Forget(key string) { b.disk.dropKey(key) }

// Put stores the object in the inner backend and drops its cached entries.
func (b *Backend) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return b.invalidate(key, func() error { return b.inner.Put(ctx, key, r, size) })
}

// Delete deletes the object from the inner backend and drops its cached
// entries.
func (b *Backend) Delete(ctx context.Context, key string) error {
	return b.invalidate(key, func() error { return b.inner.Delete(ctx, key) })
}

// Stat answers from the cache when the whole object is cached (it is
// immutable, so its size is known) and passes through otherwise.
func (b *Backend) Stat(ctx context.Context, key string) (backend.Info, error) {
	if b.cached(key) {
		if err := ctx.Err(); err != nil {
			return backend.Info{}, fmt.Errorf("cache stat %s: %w", key, err)
		}
		if size, ok := b.disk.size(makeID(key, 0, -1)); ok {
			return backend.Info{Key: key, Size: size}, nil
		}
	}
	return b.inner.Stat(ctx, key)
}

// List passes through.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	return b.inner.List(ctx, prefix, fn)
}

// Close closes the inner backend; the cache files stay for the next run.
func (b *Backend) Close() error { return b.inner.Close() }

// String names the inner backend and the cache directory.
func (b *Backend) String() string {
	return fmt.Sprintf("cache(%s, %s)", b.inner, b.disk.dir)
}

// Unwrap returns the inner backend.
func (b *Backend) Unwrap() backend.Backend { return b.inner }
