package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/forward"
	"github.com/nardedup/nardedup/chunkstore/pack"
	"github.com/nardedup/nardedup/server"
)

// fetch is the state of one Fetch: the forward records it read, shared
// by the NAR's chunk streams.
type fetch struct {
	c    *Client
	have Have
	got  Got

	mu      sync.Mutex
	records map[pack.ID]*forward.Record
}

// open is the narstore.ChunkOpener of the fetch.
func (f *fetch) open(ctx context.Context, next func() (chunkstore.Ref, chunkstore.Location, error)) io.ReadCloser {
	return &chunkReader{f: f, ctx: ctx, next: next}
}

// record returns the forward record of pack p, fetched once.
func (f *fetch) record(ctx context.Context, p pack.ID) (*forward.Record, error) {
	f.mu.Lock()
	rec := f.records[p]
	f.mu.Unlock()
	if rec != nil {
		return rec, nil
	}
	what := "forward record " + p.String()
	body, err := f.c.get(ctx, what, "forward/"+p.String(), int64(forward.MaxSize), false)
	if err != nil {
		return nil, err
	}
	f.c.records.Add(1)
	if rec, err = forward.Decode(body); err != nil {
		return nil, fmt.Errorf("remote: %s: %s: %w", f.c, what, err)
	}
	if rec.Pack != p {
		return nil, fmt.Errorf("%w: remote: %s: %s is that of pack %s", ErrCorrupt, f.c, what, rec.Pack)
	}
	f.mu.Lock()
	f.records[p] = rec
	f.mu.Unlock()
	return rec, nil
}

// frame is a decompressed frame and where it lies.
type frame struct {
	pack   pack.ID
	offset int64
	data   []byte
}

// chunkReader is the concatenation of the chunks of one stream. It holds
// the last frame it fetched, for the chunks after it in the same frame.
type chunkReader struct {
	f    *fetch
	ctx  context.Context
	next func() (chunkstore.Ref, chunkstore.Location, error)
	cur  []byte // what is left of the current chunk
	last frame
	err  error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		ref, loc, err := r.next()
		if err != nil {
			r.err = err
			continue
		}
		r.cur, r.err = r.chunk(ref, loc)
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close drops the frame held.
func (r *chunkReader) Close() error {
	r.last, r.cur = frame{}, nil
	if r.err == nil {
		r.err = errors.New("remote: chunk stream closed")
	}
	return nil
}

// chunk returns the bytes of ref, which lies at loc, checked against its
// id: held by the caller, or cut from its frame, following forward
// records while its pack is gone.
func (r *chunkReader) chunk(ref chunkstore.Ref, loc chunkstore.Location) ([]byte, error) {
	c := r.f.c
	if data, ok := r.f.have(ref.ID); ok && len(data) == int(ref.Size) && chunkstore.Sum(data) == ref.ID {
		c.held.Add(1)
		return data, nil
	}
	for hops := 0; ; hops++ {
		data, err := r.frame(loc)
		if errors.Is(err, ErrNotFound) {
			if hops == forward.MaxHops {
				return nil, fmt.Errorf("remote: %s: chunk %s: %d forward records followed: %w", c, ref.ID, hops, err)
			}
			gone := loc.Pack
			rec, rerr := r.f.record(r.ctx, gone)
			if rerr != nil {
				return nil, fmt.Errorf("remote: chunk %s: pack %s is gone (%v): %w", ref.ID, gone, err, rerr)
			}
			var ok bool
			if loc, ok = rec.Find(ref.ID); !ok {
				return nil, fmt.Errorf("remote: %s: chunk %s: pack %s is gone: %w", c, ref.ID, gone, forward.ErrNotForwarded)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		end := uint64(loc.Offset) + uint64(loc.Length)
		switch {
		case loc.Length != ref.Size:
			return nil, fmt.Errorf("%w: remote: %s: chunk %s of %d bytes located as %d in frame %s",
				ErrCorrupt, c, ref.ID, ref.Size, loc.Length, server.FrameName(loc))
		case end > uint64(len(data)):
			return nil, fmt.Errorf("%w: remote: %s: chunk %s lies beyond frame %s",
				ErrCorrupt, c, ref.ID, server.FrameName(loc))
		}
		chunk := data[loc.Offset:end]
		if chunkstore.Sum(chunk) != ref.ID {
			return nil, fmt.Errorf("%w: remote: %s: chunk %s in frame %s does not match its id",
				ErrCorrupt, c, ref.ID, server.FrameName(loc))
		}
		c.fetched.Add(1)
		r.f.got(ref.ID, chunk)
		return chunk, nil
	}
}

// frame returns the decompressed frame at loc, the one held or fetched.
// A frame whose pack is gone is an error wrapping ErrNotFound.
func (r *chunkReader) frame(loc chunkstore.Location) ([]byte, error) {
	if r.last.data != nil && r.last.pack == loc.Pack && r.last.offset == loc.FrameOffset &&
		len(r.last.data) == int(loc.FrameULen) {
		return r.last.data, nil
	}
	c := r.f.c
	name := server.FrameName(loc)
	what := "frame " + name
	if loc.FrameCLen == 0 || loc.FrameCLen > server.MaxFrameBytes || loc.FrameULen > pack.MaxFrameSize {
		return nil, fmt.Errorf("%w: remote: %s: %s of %d bytes decompressed", ErrCorrupt, c, what, loc.FrameULen)
	}
	// The frame held is dropped first: one frame's memory at a time.
	dst := r.last.data[:0]
	r.last = frame{}
	comp, err := c.frame(r.ctx, what, name, int64(loc.FrameCLen))
	if err != nil {
		return nil, err
	}
	if cap(dst) < int(loc.FrameULen) {
		dst = make([]byte, 0, loc.FrameULen)
	}
	var data []byte
	if chunkstore.FrameIsZstd(comp) {
		data, err = c.dec.DecodeAll(comp, dst)
	} else {
		// Cold data that garbage collection recompressed.
		data, err = chunkstore.DecodeXZFrame(r.ctx, comp, dst, int(loc.FrameULen))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: remote: %s: %s: %v", ErrCorrupt, c, what, err)
	}
	if len(data) != int(loc.FrameULen) {
		return nil, fmt.Errorf("%w: remote: %s: %s has %d bytes, want %d", ErrCorrupt, c, what, len(data), loc.FrameULen)
	}
	r.last = frame{pack: loc.Pack, offset: loc.FrameOffset, data: data}
	return data, nil
}

// flight is one fetch of a frame that concurrent fetches share.
type flight struct {
	done chan struct{}
	comp []byte
	err  error
}

// frame returns the compressed frame of this name and length, fetched
// once however many fetches want it at the same time. A fetch whose
// leader failed fetches for itself: the failure may have been the
// leader's own (cancelled).
func (c *Client) frame(ctx context.Context, what, name string, n int64) ([]byte, error) {
	c.flightMu.Lock()
	if fl, ok := c.flights[name]; ok {
		c.flightMu.Unlock()
		select {
		case <-fl.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("remote: %s: %s: %w", c, what, ctx.Err())
		}
		if fl.err == nil {
			c.shared.Add(1)
			return fl.comp, nil
		}
		return c.fetchFrame(ctx, what, name, n)
	}
	fl := &flight{done: make(chan struct{})}
	c.flights[name] = fl
	c.flightMu.Unlock()
	fl.comp, fl.err = c.fetchFrame(ctx, what, name, n)
	c.flightMu.Lock()
	delete(c.flights, name)
	c.flightMu.Unlock()
	close(fl.done)
	return fl.comp, fl.err
}

func (c *Client) fetchFrame(ctx context.Context, what, name string, n int64) ([]byte, error) {
	comp, err := c.get(ctx, what, "frame/"+name, n, true)
	if err != nil {
		return nil, err
	}
	c.frames.Add(1)
	c.frameBytes.Add(int64(len(comp)))
	return comp, nil
}
