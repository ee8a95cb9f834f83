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
	"github.com/nardedup/nardedup/chunkstore/index"
	"github.com/nardedup/nardedup/chunkstore/lease"
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
}

// Store is an open repository of chunks. Its methods are safe for
// concurrent use.
type Store struct {
	be   backend.Backend
	cfg  Config
	idx  *index.Index
	opts Options
	enc  sync.Pool // frameEncoder
	dec  *zstd.Decoder

	frames *frameCache // nil without Options.FrameCache

	mu      sync.Mutex
	pending map[ID]*ticket // chunks in packs not yet indexed
	cur     *packBuilder
	nextSeq uint64
	err     error // sticky: a pack failed to be stored

	uploadSem chan struct{}
	// uploads counts the packs being stored. Not a sync.WaitGroup: packs
	// are sealed (by the flush loop, a session, Flush) while Flush waits.
	upMu    sync.Mutex
	upIdle  *sync.Cond // signalled when uploads drops to 0
	uploads int

	dmu      sync.Mutex
	durable  uint64           // every pack with seq <= durable is stored and indexed
	finished map[uint64]error // packs done out of order
	waiting  map[uint64][]func(error)

	syncMu     sync.Mutex
	lastSync   time.Time // when the last Sync ended
	syncedFrom time.Time // when the last successful Sync began

	lease *lease.Writer // the condemned list as of the last Sync, holds, session

	stop chan struct{}
	wg   sync.WaitGroup
}

// Open opens the repository on be. It brings the local index up to date with
// the index objects in the repository.
func Open(ctx context.Context, be backend.Backend, opts Options) (*Store, error) {
	cfg, err := LoadConfig(ctx, be)
	if err != nil {
		return nil, err
	}
	if opts.IndexPath == "" {
		return nil, errors.New("chunkstore: no local index path")
	}
	if opts.Uploads <= 0 {
		opts.Uploads = 2
	}
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = 250 * time.Millisecond
	}
	idx, err := index.Open(opts.IndexPath)
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(MaxFrameSize), zstd.WithDecoderMaxWindow(MaxFrameSize))
	if err != nil {
		idx.Close()
		return nil, err
	}
	s := &Store{
		be: be, cfg: cfg, idx: idx, opts: opts, dec: dec,
		pending:   make(map[ID]*ticket),
		nextSeq:   1,
		uploadSem: make(chan struct{}, opts.Uploads),
		finished:  make(map[uint64]error),
		waiting:   make(map[uint64][]func(error)),
		stop:      make(chan struct{}),
		lease:     lease.NewWriter(),
	}
	if opts.FrameCache > 0 {
		s.frames = newFrameCache(opts.FrameCache)
	}
	s.upIdle = sync.NewCond(&s.upMu)
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
	if s.frames == nil {
		return 0, 0, 0
	}
	return s.frames.stats()
}

// IndexStats returns the number of packs and of chunk locations in the
// local index (a chunk stored in two packs counts twice).
func (s *Store) IndexStats() (packs, chunks int, err error) {
	packs, chunks, err = s.idx.Stats()
	if err != nil {
		err = s.wrap("read local index", err)
	}
	return packs, chunks, err
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
		s.upMu.Lock()
		for s.uploads > 0 {
			s.upIdle.Wait()
		}
		s.upMu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close flushes the store and releases its resources.
func (s *Store) Close() error {
	err := s.Flush(context.Background())
	close(s.stop)
	s.wg.Wait()
	s.dec.Close()
	if cerr := s.closeIndex(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) closeIndex() error { return s.idx.Close() }

// Commit arranges for fn to run once every chunk of the streams described by
// results is stored and indexed: with nil, or with the error that kept one of
// them from being stored. fn runs on an internal goroutine, or on the calling
// one if the chunks are durable already; it must not call Flush. Commit
// itself waits only until the frames holding those chunks are placed in
// packs, which needs every Writer they came from to make progress: close all
// of a caller's writers before committing any of them.
func (s *Store) Commit(ctx context.Context, fn func(error), results ...WriteResult) error {
	var seq uint64
	for _, r := range results {
		for _, t := range r.deps {
			select {
			case <-t.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if t.err != nil {
				return fmt.Errorf("chunkstore: a chunk of the stream failed to store: %w", t.err)
			}
			seq = max(seq, t.seq)
		}
	}
	s.afterDurable(seq, fn)
	return nil
}

func (s *Store) afterDurable(seq uint64, fn func(error)) {
	s.dmu.Lock()
	if seq > s.durable {
		if err := s.Err(); err != nil {
			s.dmu.Unlock()
			fn(err)
			return
		}
	}
	if seq <= s.durable {
		s.dmu.Unlock()
		fn(nil)
		return
	}
	if err, ok := s.finished[seq]; ok && err != nil {
		s.dmu.Unlock()
		fn(err)
		return
	}
	s.waiting[seq] = append(s.waiting[seq], fn)
	s.dmu.Unlock()
}

// packDone records that pack seq was stored (err == nil) or failed, and
// runs the callbacks that became due.
func (s *Store) packDone(seq uint64, err error) {
	var due []func(error)
	var dueErr []func(error)
	s.dmu.Lock()
	s.finished[seq] = err
	if err != nil {
		dueErr = s.waiting[seq]
		delete(s.waiting, seq)
	}
	for {
		e, ok := s.finished[s.durable+1]
		if !ok || e != nil {
			break
		}
		s.durable++
		delete(s.finished, s.durable)
		due = append(due, s.waiting[s.durable]...)
		delete(s.waiting, s.durable)
	}
	s.dmu.Unlock()
	for _, fn := range dueErr {
		fn(err)
	}
	for _, fn := range due {
		fn(nil)
	}
}

// fail makes err the store's sticky error and fails every callback still
// waiting.
func (s *Store) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.dmu.Lock()
	var fns []func(error)
	for seq, w := range s.waiting {
		fns = append(fns, w...)
		delete(s.waiting, seq)
	}
	s.dmu.Unlock()
	for _, fn := range fns {
		fn(err)
	}
}

// Err returns the error that stopped the store, or nil.
func (s *Store) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// PackKey returns the backend key of pack id.
func PackKey(id ID) string {
	h := id.String()
	return "packs/" + h[:2] + "/" + h
}

// IndexKey returns the backend key of the index object of pack id.
func IndexKey(id ID) string { return "index/" + id.String() }

func (s *Store) wrap(op string, err error) error {
	return fmt.Errorf("chunkstore: %s on %s: %w", op, s.be, err)
}
