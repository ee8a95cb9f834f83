package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/forward"
	"github.com/nardedup/nardedup/chunkstore/index"
	"github.com/nardedup/nardedup/chunkstore/lease"
	"github.com/nardedup/nardedup/repo/layout"
)

// DefaultFrameCache is the Options.FrameCache of the commands that read
// NARs (serve, verify, export) unless told otherwise: popular NARs are then
// served without decompressing their frames again.
const DefaultFrameCache = 256 << 20

// ErrNotFound is wrapped by reads of a chunk the repository does not hold.
var ErrNotFound = errors.New("chunkstore: chunk not found")

// Options configure an open Store.
type Options struct {
	// IndexPath is the local bbolt file caching the repository's index.
	IndexPath string
	// NoIndex opens the store to read chunks whose locations the caller
	// knows (NewLocatedReader, ReadChunkAt), as a server of a repository
	// whose manifests carry them does: no local index, no index objects
	// read, nothing written. Lookup fails with ErrNoIndex.
	NoIndex bool
	// Candidates, if positive, opens the store to write without a local
	// index, as NoIndex does to read: no index objects are read (they
	// are still written), and a chunk is stored unless it is pending in
	// this process or among the candidates: the chunks offered with
	// AddCandidates and those this process stored, at most Candidates of
	// them, the least recently used forgotten. Memory is then bounded by
	// Candidates (about 200 bytes an entry), whatever the repository's
	// size; a chunk the candidates miss is stored again.
	Candidates int
	// FrameCache, if positive, keeps up to this many bytes of decoded
	// frames in memory, most recently used first, for readers: a frame
	// that several chunks of a NAR, or several NARs, are read from is then
	// decompressed once. Without it, each run of consecutive chunks
	// decompresses its frame (or the frame's head) again.
	FrameCache int64
	// FlushInterval, if positive, seals the open pack at least this often so
	// that a long ingest makes its work durable as it goes.
	FlushInterval time.Duration
	// Uploads bounds the packs being stored at once (default 2).
	Uploads int
	// ResyncInterval is the least time between two reloads of the index
	// objects prompted by a chunk missing from the local index (default 250ms;
	// negative: never). A read that misses waits for the next reload, so
	// a NAR another process ingested is readable at once, at the cost of
	// up to this long.
	ResyncInterval time.Duration
	// ForwardCache bounds the entries of forward records kept decoded in
	// memory, most recently used first, for reads of chunks whose pack
	// was deleted (default forward.DefaultCacheEntries; an entry takes
	// about 90 bytes).
	ForwardCache int
}

// Store is an open repository of chunks. Its methods are safe for
// concurrent use.
type Store struct {
	be    backend.Backend
	cfg   Config
	opts  Options
	idx   *index.Index  // the local index (sync.go, index.go)
	cands *candidates   // instead of idx, with Options.Candidates
	syncs syncState     // its reloads from the index objects
	lease *lease.Writer // the condemned list as of the last Sync, holds, session

	rd  packReader        // the read side (reader.go, packreader.go)
	fwd *forward.Resolver // where the chunks of deleted packs went

	// The write side (writer.go, packwriter.go, durable.go).
	wr      writeState
	uploads *uploads
	durable *durability

	stop chan struct{}
	wg   sync.WaitGroup
}

// Open opens the chunk store of the repository on be, whose configuration
// is cfg (package repo loads it). It brings the local index up to date with
// the index objects in the repository.
func Open(ctx context.Context, be backend.Backend, cfg Config, opts Options) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Candidates > 0 {
		opts.NoIndex = true
	}
	if opts.IndexPath == "" && !opts.NoIndex {
		return nil, errors.New("chunkstore: no local index path")
	}
	if opts.Uploads <= 0 {
		opts.Uploads = 2
	}
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = 250 * time.Millisecond
	}
	var idx *index.Index
	if !opts.NoIndex {
		var err error
		if idx, err = index.Open(opts.IndexPath); err != nil {
			return nil, err
		}
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(MaxFrameSize), zstd.WithDecoderMaxWindow(MaxFrameSize))
	if err != nil {
		if idx != nil {
			idx.Close()
		}
		return nil, err
	}
	s := &Store{
		be: be, cfg: cfg, idx: idx, opts: opts, rd: packReader{be: be, dec: dec},
		fwd:     forward.NewResolver(be, opts.ForwardCache),
		wr:      writeState{pending: make(map[ID]*ticket), nextSeq: 1},
		uploads: newUploads(opts.Uploads),
		durable: newDurability(),
		stop:    make(chan struct{}),
		lease:   lease.NewWriter(),
	}
	if opts.Candidates > 0 {
		s.cands = newCandidates(opts.Candidates)
	}
	if opts.FrameCache > 0 {
		s.rd.frames = newFrameCache(opts.FrameCache)
	}
	if err := s.syncLocked(ctx); err != nil {
		s.closeIndex()
		return nil, err
	}
	if opts.FlushInterval > 0 {
		s.wg.Add(1)
		go s.flushLoop(opts.FlushInterval)
	}
	return s, nil
}

// Config returns the repository configuration.
func (s *Store) Config() Config { return s.cfg }

// FrameCacheStats returns how many frame reads the frame cache answered
// (hits) and how many it decoded (misses), and the bytes it holds; all
// zero without Options.FrameCache.
func (s *Store) FrameCacheStats() (hits, misses, bytes int64) {
	if s.rd.frames == nil {
		return 0, 0, 0
	}
	return s.rd.frames.stats()
}

// Backend returns the backend the store keeps its objects on.
func (s *Store) Backend() backend.Backend { return s.be }

func (s *Store) flushLoop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.seal()
		}
	}
}

// Flush stores the open pack and waits until every pack is stored and
// indexed and every AfterDurable callback has run. It returns the error that
// stopped the store, if any.
func (s *Store) Flush(ctx context.Context) error {
	s.seal()
	done := make(chan struct{})
	go func() {
		s.uploads.wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Err()
}

// Close flushes the store and releases its resources.
func (s *Store) Close() error {
	err := s.Flush(context.Background())
	close(s.stop)
	s.wg.Wait()
	s.unmapPacks()
	s.rd.dec.Close()
	if cerr := s.closeIndex(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) closeIndex() error {
	if s.idx == nil {
		return nil
	}
	return s.idx.Close()
}

// HasIndex reports whether the store keeps a local index (it was not
// opened with Options.NoIndex).
func (s *Store) HasIndex() bool { return s.idx != nil }

// ErrNoIndex is returned by what needs the local index in a store opened
// with Options.NoIndex.
var ErrNoIndex = errors.New("chunkstore: opened without a local index")

// needIndex returns ErrNoIndex, wrapped with op, if the store has no
// index.
func (s *Store) needIndex(op string) error {
	if s.idx == nil {
		return fmt.Errorf("%s: %w", op, ErrNoIndex)
	}
	return nil
}

// PackKey returns the backend key of pack id.
func PackKey(id ID) string { return layout.Key(layout.Pack, id.String()) }

// IndexKey returns the backend key of the index object of pack id.
func IndexKey(id ID) string { return layout.Key(layout.Index, id.String()) }

func (s *Store) wrap(op string, err error) error { return wrapErr(s.be, op, err) }

func wrapErr(be backend.Backend, op string, err error) error {
	return fmt.Errorf("chunkstore: %s on %s: %w", op, be, err)
}
