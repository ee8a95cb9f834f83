package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/index"
)

// Lookup returns where chunk id is stored, or an error wrapping ErrNotFound.
// A chunk missing from the local index may have been stored since by
// another process: Lookup then loads the repository's new index objects
// (Sync) and looks again. Syncs are at least Options.ResyncInterval apart;
// a lookup that misses waits for the next one rather than fail, and
// concurrent misses share it.
func (s *Store) Lookup(ctx context.Context, id ID) (Location, error) {
	missAt := time.Now()
	loc, f, err := s.idx.Lookup(id, s.lease.Avoid)
	if err == nil && f == index.FoundNone && s.resync(ctx, missAt) {
		loc, f, err = s.idx.Lookup(id, s.lease.Avoid)
	}
	if err != nil {
		return loc, s.wrap("index lookup", err)
	}
	if f == index.FoundNone {
		return loc, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return loc, nil
}

// syncLocked runs Sync; the caller holds syncMu.
func (s *Store) syncLocked(ctx context.Context) error {
	start := time.Now()
	err := s.Sync(ctx)
	s.lastSync = time.Now()
	if err == nil {
		s.syncedFrom = start
	}
	return err
}

// resyncNow runs Sync now, unless one started since the caller failed.
func (s *Store) resyncNow(ctx context.Context) error {
	failedAt := time.Now()
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.syncedFrom.After(failedAt) {
		return nil
	}
	return s.syncLocked(ctx)
}

// resync makes sure a Sync started after missAt, waiting for the resync
// interval to pass since the last one, and reports whether the index may
// have changed.
func (s *Store) resync(ctx context.Context, missAt time.Time) bool {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.syncedFrom.After(missAt) {
		return true // another lookup's sync began after this miss
	}
	if s.opts.ResyncInterval < 0 {
		return false
	}
	if wait := s.opts.ResyncInterval - time.Since(s.lastSync); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return false
		}
	}
	return s.syncLocked(ctx) == nil
}

// ReadChunk returns the bytes of chunk id, checked against the id.
func (s *Store) ReadChunk(ctx context.Context, id ID) ([]byte, error) {
	loc, err := s.Lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	frame, err := s.readFramePrefix(ctx, loc, loc.Offset+loc.Length, nil)
	if err != nil {
		return nil, err
	}
	return s.slice(frame, loc, Ref{ID: id, Size: loc.Length})
}

// frameBufs recycles the buffers of compressed and decompressed frames,
// which readers would otherwise allocate (and the runtime clear) for every
// frame they read.
var frameBufs sync.Pool // *[]byte

func getBuf(n int) []byte {
	if p, ok := frameBufs.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]byte, 0, n)
}

func putBuf(b []byte) {
	if cap(b) > 0 {
		frameBufs.Put(&b)
	}
}

// partialMin is the smallest frame whose head alone readFramePrefix
// decodes when the chunks wanted end well before the frame does: zstd
// decodes from the start of a frame, so a chunk early in a large frame
// (recompressed data) then costs a fraction of the frame.
const partialMin = 8 << 20

// streamDecs recycles the streaming decoders of readFramePrefix.
var streamDecs sync.Pool // *zstd.Decoder

// readFramePrefix is readFrame for a caller that needs only the frame's
// first need bytes. It returns at least those.
func (s *Store) readFramePrefix(ctx context.Context, loc Location, need uint32, dst []byte) ([]byte, error) {
	if loc.FrameULen < partialMin || need > loc.FrameULen-loc.FrameULen/4 {
		return s.readFrame(ctx, loc, dst)
	}
	key := PackKey(loc.Pack)
	comp, err := s.readExact(ctx, key, loc.FrameOffset, int64(loc.FrameCLen))
	if err != nil {
		return nil, err
	}
	defer putBuf(comp)
	dec, _ := streamDecs.Get().(*zstd.Decoder)
	if dec == nil {
		if dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(MaxFrameSize), zstd.WithDecoderMaxWindow(MaxFrameSize)); err != nil {
			return nil, err
		}
	}
	defer func() {
		dec.Reset(nil)
		streamDecs.Put(dec)
	}()
	// A plain reader, not a *bytes.Reader: the decoder would decode the
	// whole of those at once.
	if err := dec.Reset(struct{ io.Reader }{bytes.NewReader(comp)}); err != nil {
		return nil, fmt.Errorf("%w: %s: frame at %d: %v", ErrCorrupt, key, loc.FrameOffset, err)
	}
	if cap(dst) < int(need) {
		dst = make([]byte, 0, need)
	}
	dst = dst[:need]
	if _, err := io.ReadFull(dec, dst); err != nil {
		return nil, fmt.Errorf("%w: %s: frame at %d: %v", ErrCorrupt, key, loc.FrameOffset, err)
	}
	return dst, nil
}

// readFrame fetches and decompresses the frame holding loc into dst (which
// may be nil) and returns it.
func (s *Store) readFrame(ctx context.Context, loc Location, dst []byte) ([]byte, error) {
	key := PackKey(loc.Pack)
	if loc.FrameULen > MaxFrameSize {
		return nil, fmt.Errorf("%w: %s: frame at %d claims %d bytes", ErrCorrupt, key, loc.FrameOffset, loc.FrameULen)
	}
	comp, err := s.readExact(ctx, key, loc.FrameOffset, int64(loc.FrameCLen))
	if err != nil {
		return nil, err
	}
	defer putBuf(comp)
	if cap(dst) < int(loc.FrameULen) {
		dst = make([]byte, 0, loc.FrameULen)
	}
	data, err := s.dec.DecodeAll(comp, dst[:0])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: frame at %d: %v", ErrCorrupt, key, loc.FrameOffset, err)
	}
	if len(data) != int(loc.FrameULen) {
		return nil, fmt.Errorf("%w: %s: frame at %d has %d bytes, want %d", ErrCorrupt, key, loc.FrameOffset, len(data), loc.FrameULen)
	}
	return data, nil
}

// slice cuts the chunk at loc out of its decompressed frame and checks it.
func (s *Store) slice(frame []byte, loc Location, ref Ref) ([]byte, error) {
	if loc.Length != ref.Size {
		return nil, fmt.Errorf("%w: chunk %s: its reference says %d bytes, the index of pack %s %d",
			ErrCorrupt, ref.ID, ref.Size, loc.Pack, loc.Length)
	}
	end := uint64(loc.Offset) + uint64(loc.Length)
	if end > uint64(len(frame)) {
		return nil, fmt.Errorf("%w: chunk %s: location outside its frame in pack %s", ErrCorrupt, ref.ID, loc.Pack)
	}
	data := frame[loc.Offset:end]
	if Sum(data) != ref.ID {
		return nil, fmt.Errorf("%w: chunk %s in pack %s: content does not match its id", ErrCorrupt, ref.ID, loc.Pack)
	}
	return data, nil
}

// readAhead is how many frames a reader fetches and decompresses ahead of
// its consumer, on up to readWorkers goroutines.
const (
	readAhead   = 4
	readWorkers = 2
)

// NewReader returns the concatenation of the chunks that next yields (until
// it returns io.EOF), each checked against its id. Consecutive chunks of one
// frame cost one read. A planning goroutine calls next and looks chunks up;
// frames are fetched, decompressed and checked ahead of the reader, in
// parallel, and handed over in order.
func (s *Store) NewReader(ctx context.Context, next func() (Ref, error)) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	r := &chunkReader{jobs: make(chan *frameJob, readAhead), cancel: cancel}
	work := make(chan *frameJob, readAhead)
	for i := 0; i < readWorkers; i++ {
		r.workers.Add(1)
		go func() {
			defer r.workers.Done()
			for j := range work {
				j.run(ctx, s)
			}
		}()
	}
	go s.plan(ctx, next, work, r.jobs)
	return r
}

// frameJob is a run of consecutive chunks of a stream that lie in one
// frame (or an error to report at that point of the stream).
type frameJob struct {
	loc    Location // of the first chunk: names the frame
	refs   []Ref
	locs   []Location
	done   chan struct{}
	frame  []byte
	shared bool // frame belongs to the frame cache, not to this job
	pieces [][]byte
	err    error
}

func (j *frameJob) run(ctx context.Context, s *Store) {
	defer close(j.done)
	if j.err != nil {
		return
	}
	var need uint32
	for _, l := range j.locs {
		need = max(need, l.Offset+l.Length)
	}
	var cf *cachedFrame
	if s.frames != nil {
		key := frameKey{pack: j.loc.Pack, offset: j.loc.FrameOffset}
		if cf, j.err = s.frames.get(ctx, key, need, func() ([]byte, error) {
			return s.readFramePrefix(ctx, j.loc, need, nil)
		}); j.err == nil {
			j.frame, j.shared = cf.data, true
		}
	} else {
		j.frame, j.err = s.readFramePrefix(ctx, j.loc, need, getBuf(int(need)))
	}
	if j.err != nil {
		if errors.Is(j.err, backend.ErrNotExist) {
			j.relocate(ctx, s)
		}
		return
	}
	for i, ref := range j.refs {
		var data []byte
		if cf != nil {
			data, j.err = cf.slice(s, j.locs[i], ref)
		} else {
			data, j.err = s.slice(j.frame, j.locs[i], ref)
		}
		if j.err != nil {
			if cf != nil {
				s.frames.drop(cf) // damage may be transient: read it again next time
			}
			return
		}
		j.pieces = append(j.pieces, data)
	}
}

// relocate reads the job's chunks again after their pack turned out to be
// gone (deleted by garbage collection after it copied them elsewhere): it
// reloads the index at once and reads each chunk where it now lives.
func (j *frameJob) relocate(ctx context.Context, s *Store) {
	gone, orig := j.loc.Pack, j.err
	if err := s.resyncNow(ctx); err != nil {
		j.err = fmt.Errorf("%w (reloading the index: %v)", j.err, err)
		return
	}
	var size int
	for _, ref := range j.refs {
		size += int(ref.Size)
	}
	buf := getBuf(size)
	var frame []byte
	var floc Location
	defer func() { putBuf(frame) }()
	for i, ref := range j.refs {
		loc, err := s.Lookup(ctx, ref.ID)
		if err == nil && loc.Pack == gone {
			err = orig // a missing pack still indexed: damage
		} else if errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("%w (after %v)", err, orig)
		}
		if err != nil {
			j.err = err
			putBuf(buf)
			return
		}
		if frame == nil || floc.Pack != loc.Pack || floc.FrameOffset != loc.FrameOffset {
			putBuf(frame)
			if frame, err = s.readFrame(ctx, loc, getBuf(int(loc.FrameULen))); err != nil {
				frame, j.err = nil, err
				putBuf(buf)
				return
			}
			floc = loc
		}
		data, err := s.slice(frame, loc, ref)
		if err != nil {
			j.err = err
			putBuf(buf)
			return
		}
		j.locs[i] = loc
		buf = append(buf, data...)
	}
	j.frame, j.err, j.pieces = buf, nil, j.pieces[:0]
	for off := 0; len(j.pieces) < len(j.refs); {
		n := int(j.refs[len(j.pieces)].Size)
		j.pieces = append(j.pieces, buf[off:off+n])
		off += n
	}
}

// plan groups the refs into frame jobs and queues them, in order, both for
// the workers and for the reader.
func (s *Store) plan(ctx context.Context, next func() (Ref, error), work, jobs chan<- *frameJob) {
	defer close(jobs)
	defer close(work)
	var cur *frameJob
	emit := func(j *frameJob) bool {
		select {
		case jobs <- j:
		case <-ctx.Done():
			return false
		}
		if j.err != nil {
			close(j.done)
			return false
		}
		select {
		case work <- j:
			return true
		case <-ctx.Done():
			// The reader may already wait for this job: finish it.
			j.err = ctx.Err()
			close(j.done)
			return false
		}
	}
	refs := &refLocator{s: s, next: next}
	for {
		ref, loc, err := refs.get(ctx)
		if errors.Is(err, io.EOF) {
			if cur != nil {
				emit(cur)
			}
			return
		}
		if err != nil {
			if cur == nil || emit(cur) {
				emit(&frameJob{err: err, done: make(chan struct{})})
			}
			return
		}
		if cur != nil && (cur.loc.Pack != loc.Pack || cur.loc.FrameOffset != loc.FrameOffset) {
			if !emit(cur) {
				return
			}
			cur = nil
		}
		if cur == nil {
			cur = &frameJob{loc: loc, done: make(chan struct{})}
		}
		cur.refs = append(cur.refs, ref)
		cur.locs = append(cur.locs, loc)
	}
}

// lookupBatch is how many refs a reader looks up in one index transaction:
// one transaction per chunk makes many concurrent readers queue on the
// index.
const lookupBatch = 128

// refLocator reads refs from next in batches and looks each batch up in one
// index transaction. A ref the batch lookup misses goes through Lookup,
// which may reload the index.
type refLocator struct {
	s     *Store
	next  func() (Ref, error)
	refs  []Ref
	ids   []ID
	locs  []Location
	found []bool
	i     int
	err   error // from next, returned once the batch is used up
}

func (r *refLocator) get(ctx context.Context) (Ref, Location, error) {
	if r.i == len(r.refs) {
		if r.err != nil {
			return Ref{}, Location{}, r.err
		}
		if err := r.fill(); err != nil {
			return Ref{}, Location{}, err
		}
		if len(r.refs) == 0 {
			return Ref{}, Location{}, r.err
		}
	}
	i := r.i
	r.i++
	if r.found[i] {
		return r.refs[i], r.locs[i], nil
	}
	loc, err := r.s.Lookup(ctx, r.refs[i].ID)
	return r.refs[i], loc, err
}

func (r *refLocator) fill() error {
	r.refs, r.ids, r.i = r.refs[:0], r.ids[:0], 0
	for len(r.refs) < lookupBatch {
		ref, err := r.next()
		if err != nil {
			r.err = err
			break
		}
		r.refs = append(r.refs, ref)
		r.ids = append(r.ids, ref.ID)
	}
	if cap(r.locs) < len(r.refs) {
		r.locs, r.found = make([]Location, lookupBatch), make([]bool, lookupBatch)
	}
	r.locs, r.found = r.locs[:len(r.refs)], r.found[:len(r.refs)]
	if err := r.s.idx.LookupMany(r.ids, r.locs, r.found, r.s.lease.Avoid); err != nil {
		return r.s.wrap("index lookup", err)
	}
	return nil
}

type chunkReader struct {
	jobs    chan *frameJob
	workers sync.WaitGroup
	cancel  context.CancelFunc
	cur     *frameJob
	buf     []byte
	err     error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.cur != nil && len(r.cur.pieces) > 0 {
			r.buf, r.cur.pieces = r.cur.pieces[0], r.cur.pieces[1:]
			continue
		}
		r.nextJob()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *chunkReader) nextJob() {
	if r.cur != nil && !r.cur.shared {
		putBuf(r.cur.frame) // every piece of it has been read
	}
	r.cur = nil
	j, ok := <-r.jobs
	if !ok {
		r.err = io.EOF
		return
	}
	<-j.done
	if j.err != nil {
		r.err = j.err
		return
	}
	r.cur = j
}

// Close stops the goroutines fetching ahead and waits for them.
func (r *chunkReader) Close() error {
	r.cancel()
	for range r.jobs {
	}
	r.workers.Wait()
	if r.err == nil {
		r.err = errors.New("chunkstore: read after close")
	}
	return nil
}
