package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/forward"
	"github.com/nardedup/nardedup/chunkstore/index"
)

// Lookup returns where chunk id is stored, or an error wrapping ErrNotFound.
// A chunk missing from the local index may have been stored since by
// another process: Lookup then loads the repository's new index objects
// (Sync) and looks again. Syncs are at least Options.ResyncInterval apart;
// a lookup that misses waits for the next one rather than fail, and
// concurrent misses share it.
func (s *Store) Lookup(ctx context.Context, id ID) (Location, error) {
	if err := s.needIndex("chunk " + id.String()); err != nil {
		return Location{}, err
	}
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

// ReadChunk returns the bytes of chunk id, checked against the id. A
// chunk whose indexed pack is gone (deleted by garbage collection) is
// found again as a reader's are: through the pack's forward record
// (ReadChunkAt), or else in the index reloaded at once.
func (s *Store) ReadChunk(ctx context.Context, id ID) ([]byte, error) {
	loc, err := s.Lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	ref := Ref{ID: id, Size: loc.Length}
	data, err := s.ReadChunkAt(ctx, ref, loc)
	if !errors.Is(err, forward.ErrNotForwarded) {
		return data, err
	}
	if rerr := s.resyncNow(ctx); rerr != nil {
		return nil, fmt.Errorf("%w (reloading the index: %v)", err, rerr)
	}
	if loc, err = s.lookupAgain(ctx, id, loc.Pack, err); err != nil {
		return nil, err
	}
	return s.ReadChunkAt(ctx, ref, loc)
}

// lookupAgain looks chunk id up in the reloaded index after its pack
// gone turned out to be missing with no forward record naming it (orig,
// the error that said so).
func (s *Store) lookupAgain(ctx context.Context, id, gone ID, orig error) (Location, error) {
	loc, err := s.Lookup(ctx, id)
	if err == nil && loc.Pack == gone {
		err = orig // a missing pack still indexed: damage
	} else if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w (after %v)", err, orig)
	}
	return loc, err
}

// ReadChunkAt returns the bytes of the chunk at loc, checked against
// ref.ID. If loc's pack is gone (garbage collection deleted it after
// copying its chunks elsewhere), it follows the pack's forward record, and
// those of the packs that one points to if they are gone too, to where
// the chunk lives now. The error of a chunk no record names says so,
// naming the chunk and loc's pack.
func (s *Store) ReadChunkAt(ctx context.Context, ref Ref, loc Location) ([]byte, error) {
	data, err := s.readChunkAt(ctx, ref, loc)
	// A pack Resolve found may be deleted before it is read: resolve again.
	for hop := 0; errors.Is(err, backend.ErrNotExist) && hop < forward.MaxHops; hop++ {
		if loc, err = s.fwd.Resolve(ctx, loc.Pack, ref.ID); err != nil {
			return nil, fmt.Errorf("chunkstore: read chunk on %s: %w", s.be, err)
		}
		data, err = s.readChunkAt(ctx, ref, loc)
	}
	return data, err
}

// readResolved reads, through frames, at least the first need bytes of
// the frame at loc, a location Resolve returned for chunk id, and returns
// it with the location it was read at: if loc's pack went since Resolve
// saw it, it follows that pack's record on (and reads the whole frame
// there, whose layout need no longer describes).
func (s *Store) readResolved(ctx context.Context, frames *frameCache, id ID, loc Location, need uint32) (*cachedFrame, Location, error) {
	cf, err := s.readCached(ctx, frames, loc, need)
	for hop := 0; errors.Is(err, backend.ErrNotExist) && hop < forward.MaxHops; hop++ {
		if loc, err = s.fwd.Resolve(ctx, loc.Pack, id); err != nil {
			return nil, loc, err
		}
		cf, err = s.readCached(ctx, frames, loc, loc.FrameULen)
	}
	return cf, loc, err
}

// readCached returns, from frames or decoded into it, a frame holding at
// least the first need bytes of the frame at loc.
func (s *Store) readCached(ctx context.Context, frames *frameCache, loc Location, need uint32) (*cachedFrame, error) {
	key := frameKey{pack: loc.Pack, offset: loc.FrameOffset}
	return frames.get(ctx, key, need, func(head uint32) ([]byte, error) {
		return s.rd.readFramePrefix(ctx, loc, min(head, loc.FrameULen), nil)
	})
}

func (s *Store) readChunkAt(ctx context.Context, ref Ref, loc Location) ([]byte, error) {
	frame, err := s.rd.readFramePrefix(ctx, loc, loc.Offset+loc.Length, nil)
	if err != nil {
		return nil, err
	}
	return sliceChunk(frame, loc, ref)
}

// readAhead is how many frames a reader fetches and decompresses ahead of
// its consumer, on up to readWorkers goroutines.
const (
	readAhead   = 4
	readWorkers = 2
)

// streamFrames bounds the decoded frames that a reader of a store
// without a frame cache keeps for itself: a stream's chunks often return
// to a frame after others (the chunks of one NAR are stored in frames
// filled side by side), and each return would decode the frame again.
// It holds about six frames of the default group size.
const streamFrames = 24 << 20

// NewReader returns the concatenation of the chunks that next yields (until
// it returns io.EOF), each checked against its id. Consecutive chunks of one
// frame cost one read. A planning goroutine calls next and looks chunks up;
// frames are fetched, decompressed and checked ahead of the reader, in
// parallel, and handed over in order.
func (s *Store) NewReader(ctx context.Context, next func() (Ref, error)) io.ReadCloser {
	return s.NewLocatedReader(ctx, unlocated(next))
}

// unlocated turns a list of refs into one of refs of unknown location.
func unlocated(next func() (Ref, error)) func() (Ref, Location, error) {
	return func() (Ref, Location, error) {
		ref, err := next()
		return ref, Location{}, err
	}
}

// known reports whether loc is a location rather than the zero Location
// that stands for an unknown one (no frame is empty).
func known(loc Location) bool { return loc.FrameULen != 0 }

// NewLocatedReader is NewReader for chunks whose location the caller may
// know: next returns each ref with its location, or with the zero
// Location to have it looked up in the index. A chunk whose pack is gone
// (deleted by garbage collection) is found again as NewReader's are:
// through the pack's forward record, then the index if there is one.
func (s *Store) NewLocatedReader(ctx context.Context, next func() (Ref, Location, error)) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	r := &chunkReader{jobs: make(chan *frameJob, readAhead), cancel: cancel}
	work := make(chan *frameJob, readAhead)
	frames := s.rd.frames
	if frames == nil {
		frames = newFrameCache(streamFrames)
	}
	for i := 0; i < readWorkers; i++ {
		r.workers.Add(1)
		go func() {
			defer r.workers.Done()
			for j := range work {
				j.run(ctx, s, frames)
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

// run reads the job's frame through frames, the store's frame cache or
// the reader's own.
func (j *frameJob) run(ctx context.Context, s *Store, frames *frameCache) {
	defer close(j.done)
	if j.err != nil {
		return
	}
	var need uint32
	for _, l := range j.locs {
		need = max(need, l.Offset+l.Length)
	}
	cf, err := s.readCached(ctx, frames, j.loc, need)
	if j.err = err; err == nil {
		j.frame, j.shared = cf.data, true
	}
	if j.err != nil {
		if errors.Is(j.err, backend.ErrNotExist) {
			j.relocate(ctx, s, frames)
		}
		return
	}
	for i, ref := range j.refs {
		var data []byte
		if data, j.err = cf.slice(j.locs[i], ref); j.err != nil {
			frames.drop(cf) // damage may be transient: read it again next time
			return
		}
		j.pieces = append(j.pieces, data)
	}
}

// relocate reads the job's chunks again after their pack turned out to be
// gone (deleted by garbage collection after it copied them elsewhere): it
// follows the pack's forward record for each chunk and, only if some chunk
// has none, reloads the index at once and looks those up again. It reads
// each chunk where it now lives.
func (j *frameJob) relocate(ctx context.Context, s *Store, frames *frameCache) {
	gone, orig := j.loc.Pack, j.err
	locs := make([]Location, len(j.refs))
	var unforwarded []int
	for i, ref := range j.refs {
		loc, err := s.fwd.Resolve(ctx, gone, ref.ID)
		if errors.Is(err, forward.ErrNotForwarded) {
			unforwarded = append(unforwarded, i)
			continue
		}
		if err != nil {
			j.err = fmt.Errorf("chunkstore: %w (after %v)", err, orig)
			return
		}
		locs[i] = loc
	}
	if len(unforwarded) > 0 {
		if err := s.resyncNow(ctx); err != nil {
			j.err = fmt.Errorf("%w (reloading the index: %v)", j.err, err)
			return
		}
	}
	for _, i := range unforwarded {
		loc, err := s.lookupAgain(ctx, j.refs[i].ID, gone, orig)
		if err != nil {
			j.err = err
			return
		}
		locs[i] = loc
	}
	var size int
	for _, ref := range j.refs {
		size += int(ref.Size)
	}
	buf := getBuf(size)
	var cf *cachedFrame
	for i, ref := range j.refs {
		loc := locs[i]
		if cf == nil || cf.key != (frameKey{pack: loc.Pack, offset: loc.FrameOffset}) {
			// The chunks of this job that the same frame now holds
			// (gc copies a pack's chunks in order, so they are
			// usually neighbours): its head up to the last of them.
			need := loc.Offset + loc.Length
			for k := i + 1; k < len(locs) && locs[k].Pack == loc.Pack && locs[k].FrameOffset == loc.FrameOffset; k++ {
				need = max(need, locs[k].Offset+locs[k].Length)
			}
			var err error
			if cf, loc, err = s.readResolved(ctx, frames, ref.ID, loc, need); err != nil {
				j.err = err
				putBuf(buf)
				return
			}
		}
		data, err := cf.slice(loc, ref)
		if err != nil {
			frames.drop(cf)
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
func (s *Store) plan(ctx context.Context, next func() (Ref, Location, error), work, jobs chan<- *frameJob) {
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

// refLocator reads refs from next in batches and looks those of unknown
// location up in one index transaction. A ref the batch lookup misses goes
// through Lookup, which may reload the index.
type refLocator struct {
	s     *Store
	next  func() (Ref, Location, error)
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
	if cap(r.locs) < lookupBatch {
		r.locs, r.found = make([]Location, 0, lookupBatch), make([]bool, 0, lookupBatch)
	}
	r.locs, r.found = r.locs[:0], r.found[:0]
	var unknown []int // indexes of the refs to look up
	for len(r.refs) < lookupBatch {
		ref, loc, err := r.next()
		if err != nil {
			r.err = err
			break
		}
		if !known(loc) {
			unknown = append(unknown, len(r.refs))
			r.ids = append(r.ids, ref.ID)
		}
		r.refs, r.locs, r.found = append(r.refs, ref), append(r.locs, loc), append(r.found, known(loc))
	}
	if len(unknown) == 0 {
		return nil
	}
	if r.s.idx == nil {
		return nil // get reports each one
	}
	locs, found := make([]Location, len(unknown)), make([]bool, len(unknown))
	if err := r.s.idx.LookupMany(r.ids, locs, found, r.s.lease.Avoid); err != nil {
		return r.s.wrap("index lookup", err)
	}
	for j, i := range unknown {
		r.locs[i], r.found[i] = locs[j], found[j]
	}
	return nil
}

// LocateAll calls fn with each ref that next yields (until io.EOF) and
// where the chunk lies, looked up in the index in batches.
func (s *Store) LocateAll(ctx context.Context, next func() (Ref, error), fn func(Ref, Location) error) error {
	refs := &refLocator{s: s, next: unlocated(next)}
	for {
		ref, loc, err := refs.get(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(ref, loc); err != nil {
			return err
		}
	}
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
