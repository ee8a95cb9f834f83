package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Lookup returns where chunk id is stored, or an error wrapping ErrNotFound.
func (s *Store) Lookup(id ID) (Location, error) {
	loc, ok, err := s.idx.lookup(id)
	if err != nil {
		return loc, s.wrap("index lookup", err)
	}
	if !ok {
		return loc, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return loc, nil
}

// ReadChunk returns the bytes of chunk id, checked against the id.
func (s *Store) ReadChunk(ctx context.Context, id ID) ([]byte, error) {
	loc, err := s.Lookup(id)
	if err != nil {
		return nil, err
	}
	frame, err := s.readFrame(ctx, loc)
	if err != nil {
		return nil, err
	}
	return s.slice(frame, loc, Ref{ID: id, Size: loc.Length})
}

// readFrame fetches and decompresses the frame holding loc.
func (s *Store) readFrame(ctx context.Context, loc Location) ([]byte, error) {
	key := packKey(loc.Pack)
	comp, err := s.readObject(ctx, key, loc.FrameOffset, int64(loc.FrameCLen), MaxFrameSize*2)
	if err != nil {
		return nil, err
	}
	if loc.FrameULen > MaxFrameSize {
		return nil, fmt.Errorf("%w: %s: frame at %d claims %d bytes", ErrCorrupt, key, loc.FrameOffset, loc.FrameULen)
	}
	data, err := s.dec.DecodeAll(comp, make([]byte, 0, loc.FrameULen))
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
	end := uint64(loc.Offset) + uint64(loc.Length)
	if end > uint64(len(frame)) || loc.Length != ref.Size {
		return nil, fmt.Errorf("%w: chunk %s: location outside its frame in pack %s", ErrCorrupt, ref.ID, loc.Pack)
	}
	data := frame[loc.Offset:end]
	if Sum(data) != ref.ID {
		return nil, fmt.Errorf("%w: chunk %s in pack %s: content does not match its id", ErrCorrupt, ref.ID, loc.Pack)
	}
	return data, nil
}

// NewReader returns the concatenation of the chunks that next yields (until
// it returns io.EOF), each checked against its id. Chunks are fetched and
// decompressed ahead of the reader on an internal goroutine, which also
// calls next. Consecutive chunks of one frame cost one read.
func (s *Store) NewReader(ctx context.Context, next func() (Ref, error)) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	r := &chunkReader{ch: make(chan piece, 64), cancel: cancel}
	go s.produce(ctx, next, r.ch)
	return r
}

type piece struct {
	data []byte
	err  error
}

type frameKey struct {
	pack ID
	off  int64
}

func (s *Store) produce(ctx context.Context, next func() (Ref, error), ch chan<- piece) {
	defer close(ch)
	var curKey frameKey
	var cur []byte
	send := func(p piece) bool {
		select {
		case ch <- p:
			return p.err == nil
		case <-ctx.Done():
			return false
		}
	}
	for {
		ref, err := next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err == nil {
			var data []byte
			data, cur, curKey, err = s.pieceOf(ctx, ref, cur, curKey)
			if err == nil && !send(piece{data: data}) {
				return
			}
		}
		if err != nil {
			send(piece{err: err})
			return
		}
	}
}

func (s *Store) pieceOf(ctx context.Context, ref Ref, cur []byte, curKey frameKey) ([]byte, []byte, frameKey, error) {
	loc, err := s.Lookup(ref.ID)
	if err != nil {
		return nil, cur, curKey, err
	}
	key := frameKey{loc.Pack, loc.FrameOffset}
	if cur == nil || key != curKey {
		if cur, err = s.readFrame(ctx, loc); err != nil {
			return nil, nil, curKey, err
		}
		curKey = key
	}
	data, err := s.slice(cur, loc, ref)
	return data, cur, curKey, err
}

type chunkReader struct {
	ch     chan piece
	cancel context.CancelFunc
	buf    []byte
	err    error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		pc, ok := <-r.ch
		switch {
		case !ok:
			r.err = io.EOF
		case pc.err != nil:
			r.err = pc.err
		default:
			r.buf = pc.data
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Close stops the prefetching goroutine.
func (r *chunkReader) Close() error {
	r.cancel()
	for range r.ch {
	}
	if r.err == nil {
		r.err = errors.New("chunkstore: read after close")
	}
	return nil
}
