package chunkstore

import (
	"context"
	"errors"
	"io"
	"runtime"

	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/internal/bufpipe"
	"github.com/restic/chunker"
)

// WriteResult summarises one stream written through a Writer.
type WriteResult struct {
	Size        int64 // bytes written
	Chunks      int   // chunks in the stream
	NewChunks   int   // chunks this stream stored
	NewBytes    int64 // their uncompressed length
	StoredBytes int64 // compressed bytes this stream added to packs

	deps []*ticket // frames holding the stream's chunks not yet durable
	// With Options.Candidates: where the chunks found durable lie, and
	// the frames the others went into (LocateAll).
	locs    map[ID]Location
	tickets map[ID]*ticket
}

// Writer cuts a stream into chunks and stores the new ones. Write it like
// any io.Writer, then Close it to learn the result.
type Writer struct {
	s    *Store
	ctx  context.Context
	emit func(Ref) error
	pipe *bufpipe.Pipe
	done chan struct{}

	res  WriteResult
	err  error
	deps map[*ticket]struct{}

	group  []byte
	frame  []byte // the last frame compressed, for its buffer
	chunks []pack.ChunkInfo
	tk     *ticket
}

// NewWriter returns a Writer that calls emit with each chunk of the stream,
// in order, on an internal goroutine. An error from emit stops the writer.
func (s *Store) NewWriter(ctx context.Context, emit func(Ref) error) *Writer {
	w := &Writer{s: s, ctx: ctx, emit: emit, pipe: bufpipe.New(), done: make(chan struct{}),
		deps: make(map[*ticket]struct{}), tk: newTicket()}
	go w.run()
	return w
}

// Write passes p to the chunker, which runs behind by up to a few hundred
// KiB. It returns the error that stopped the writer, if any.
func (w *Writer) Write(p []byte) (int, error) { return w.pipe.Write(p) }

// Close ends the stream, hands its last frame to the store and returns the
// result. The stream's chunks are not durable yet: pass the result to
// Store.Commit.
func (w *Writer) Close() (WriteResult, error) {
	w.pipe.CloseWrite(nil)
	<-w.done
	if w.err != nil {
		return w.res, w.err
	}
	for t := range w.deps {
		w.res.deps = append(w.res.deps, t)
	}
	return w.res, nil
}

// Abort stops the writer with err (which Close then returns).
func (w *Writer) Abort(err error) {
	w.pipe.CloseWrite(err)
	<-w.done
	if w.err == nil {
		w.err = err
	}
}

func (w *Writer) run() {
	defer close(w.done)
	w.group, w.frame = w.s.getGroupBuffers()
	err := w.chunk(w.pipe)
	// Chunks already claimed must reach a pack whatever went wrong: other
	// writers may depend on them.
	if ferr := w.flushGroup(); err == nil {
		err = ferr
	}
	// appendFrame copied the last frame into its pack: both buffers are
	// free for the next writer.
	w.s.putGroupBuffers(w.group, w.frame)
	w.group, w.frame = nil, nil
	if err != nil {
		w.err = err
		w.pipe.CloseRead(err)
	}
}

// groupBuffers are the buffers a Writer gathers new chunks in and
// compresses them into, reused by the writers of a Store: each grows to
// about GroupSize, which would otherwise be allocated and grown by
// doubling anew for every stream with new data. They are kept in a list
// of their own rather than a sync.Pool, which every garbage collection
// empties.
type groupBuffers struct {
	group, frame []byte
}

// getGroupBuffers returns the empty buffers of a finished writer, or nils.
func (s *Store) getGroupBuffers() (group, frame []byte) {
	s.wr.mu.Lock()
	defer s.wr.mu.Unlock()
	n := len(s.wr.groups)
	if n == 0 {
		return nil, nil
	}
	gb := s.wr.groups[n-1]
	s.wr.groups = s.wr.groups[:n-1]
	return gb.group, gb.frame
}

// putGroupBuffers keeps a finished writer's buffers for the next one, up
// to one pair per CPU: more writers than that rarely run at once.
func (s *Store) putGroupBuffers(group, frame []byte) {
	if cap(group) == 0 && cap(frame) == 0 {
		return
	}
	s.wr.mu.Lock()
	defer s.wr.mu.Unlock()
	if len(s.wr.groups) < runtime.GOMAXPROCS(0) {
		s.wr.groups = append(s.wr.groups, groupBuffers{group[:0], frame[:0]})
	}
}

// pooledChunker is a chunker and the buffer its chunks are cut into,
// reused by the writers of a Store: each holds MaxSize plus the chunker's
// own 512 KiB, which a NAR of a few bytes would otherwise allocate anew
// for each of its three streams.
type pooledChunker struct {
	c   *chunker.Chunker
	buf []byte
}

// getChunker returns a chunker of the store's configuration reading r.
// Put it back with putChunker once done with it.
func (s *Store) getChunker(r io.Reader) *pooledChunker {
	cc := s.cfg.Chunker
	pol := chunker.Pol(cc.Polynomial)
	pc, _ := s.wr.chunkers.Get().(*pooledChunker)
	if pc == nil {
		pc = &pooledChunker{c: chunker.NewWithBoundaries(r, pol, cc.MinSize, cc.MaxSize), buf: make([]byte, cc.MaxSize)}
	} else {
		pc.c.ResetWithBoundaries(r, pol, cc.MinSize, cc.MaxSize)
	}
	pc.c.SetAverageBits(cc.AvgBits) // reset to the chunker's default by a reset
	return pc
}

// putChunker returns pc to the pool, dropping its reader.
func (s *Store) putChunker(pc *pooledChunker) {
	pc.c.ResetWithBoundaries(nil, chunker.Pol(s.cfg.Chunker.Polynomial), s.cfg.Chunker.MinSize, s.cfg.Chunker.MaxSize)
	s.wr.chunkers.Put(pc)
}

func (w *Writer) chunk(pr io.Reader) error {
	pc := w.s.getChunker(pr)
	defer w.s.putChunker(pc)
	c, buf := pc.c, pc.buf
	for {
		ch, err := c.Next(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if err := w.add(ch.Data); err != nil {
			return err
		}
	}
}

// add handles one chunk: emit its ref and store it if it is new.
func (w *Writer) add(data []byte) error {
	id := Sum(data)
	w.res.Size += int64(len(data))
	w.res.Chunks++
	if err := w.emit(Ref{ID: id, Size: uint32(len(data))}); err != nil {
		return err
	}
	state, t, loc, err := w.s.claim(id, w.tk)
	if err != nil {
		return err
	}
	if w.s.cands != nil {
		w.remember(id, state, t, loc)
	}
	switch state {
	case claimDurable:
		return nil
	case claimPending:
		if t != w.tk {
			w.deps[t] = struct{}{}
		}
		return nil
	}
	w.chunks = append(w.chunks, pack.ChunkInfo{ID: id, Offset: uint32(len(w.group)), Length: uint32(len(data))})
	w.group = append(w.group, data...)
	w.res.NewChunks++
	w.res.NewBytes += int64(len(data))
	if len(w.group)+int(w.s.cfg.Chunker.MaxSize) > w.s.cfg.GroupSize {
		return w.flushGroup()
	}
	return nil
}

// remember records where a chunk of the stream lies, or which frame will
// say, for WriteResult.LocateAll.
func (w *Writer) remember(id ID, state claimState, t *ticket, loc Location) {
	if w.res.locs == nil {
		w.res.locs, w.res.tickets = make(map[ID]Location), make(map[ID]*ticket)
	}
	if state == claimDurable {
		w.res.locs[id] = loc
	} else {
		w.res.tickets[id] = t
	}
}

// flushGroup compresses the pending new chunks as one frame and appends it
// to the open pack.
func (w *Writer) flushGroup() error {
	if len(w.chunks) == 0 {
		return nil
	}
	t := w.tk
	frame, err := w.s.compress(w.frame[:0], w.group)
	if err != nil {
		// Other writers may wait for these chunks: fail the store, as a
		// pack that cannot be stored does.
		w.s.fail(err)
		t.finish(0, err)
		w.group, w.chunks, w.tk = w.group[:0], nil, newTicket()
		return err
	}
	w.frame = frame
	w.s.appendFrame(frame, pack.CodecZstd, len(w.group), w.chunks, t)
	<-t.done
	w.res.StoredBytes += int64(len(frame))
	w.deps[t] = struct{}{}
	w.group = w.group[:0]
	w.chunks = nil
	w.tk = newTicket()
	return t.err
}

// compress appends data as one zstd frame, compressed with the
// repository's encoder and level, to dst (nil: a new buffer).
func (s *Store) compress(dst, data []byte) ([]byte, error) {
	enc, _ := s.wr.enc.Get().(frameEncoder)
	if enc == nil {
		var err error
		if enc, err = newFrameEncoder(s.cfg.Encoder, s.cfg.ZstdLevel, frameWindowLog(s.cfg.GroupSize), false, true); err != nil {
			return nil, err
		}
	}
	frame, err := enc.encode(dst, data)
	s.wr.enc.Put(enc)
	return frame, err
}
