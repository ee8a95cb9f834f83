package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

// packReader reads packs on the backend: tables of contents, frames and
// the chunks in them, each checked. It is safe for concurrent use.
type packReader struct {
	be     backend.Backend
	dec    *zstd.Decoder
	frames *frameCache // nil without Options.FrameCache
}

// ReadTOC reads the table of contents at the end of pack id and checks it
// against the trailer's checksum.
func (s *Store) ReadTOC(ctx context.Context, id ID) (*pack.TOC, error) {
	return s.rd.readTOC(ctx, id)
}

func (r *packReader) wrap(op string, err error) error { return wrapErr(r.be, op, err) }

// CheckPack reads the table of contents at the end of pack id, checks it
// against the trailer's checksum and compares it with the pack's index
// object, which readers use instead, and returns the table. An error
// wrapping ErrCorrupt names the pack. A pack without an index object (its
// writer died before writing it) is not checked against one: gc condemns
// such packs.
func (s *Store) CheckPack(ctx context.Context, id ID) (*pack.TOC, error) {
	toc, raw, err := s.rd.readTOCBytes(ctx, id)
	if err != nil {
		return nil, err
	}
	obj, err := s.rd.readObject(ctx, IndexKey(id), 0, -1, pack.MaxTOCSize)
	if errors.Is(err, backend.ErrNotExist) {
		return toc, nil
	}
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(obj, raw) {
		return nil, fmt.Errorf("%w: pack %s: its index object %s differs from its table of contents", ErrCorrupt, id, IndexKey(id))
	}
	return toc, nil
}

// readTOC reads the table of contents at the end of pack id and checks it
// against the trailer's checksum.
func (r *packReader) readTOC(ctx context.Context, id ID) (*pack.TOC, error) {
	toc, _, err := r.readTOCBytes(ctx, id)
	return toc, err
}

// readTOCBytes is readTOC that also returns the table as stored.
func (r *packReader) readTOCBytes(ctx context.Context, id ID) (*pack.TOC, []byte, error) {
	fi, err := r.be.Stat(ctx, PackKey(id))
	if err != nil {
		return nil, nil, r.wrap("stat pack "+id.String(), err)
	}
	if fi.Size < pack.TrailerSize {
		return nil, nil, fmt.Errorf("%w: pack %s: %d bytes", ErrCorrupt, id, fi.Size)
	}
	tr, err := r.readObject(ctx, PackKey(id), fi.Size-pack.TrailerSize, pack.TrailerSize, pack.TrailerSize)
	if err != nil {
		return nil, nil, err
	}
	n, sum, err := pack.ParseTrailer(tr)
	if err != nil || n > fi.Size-pack.TrailerSize {
		return nil, nil, fmt.Errorf("%w: pack %s: bad trailer", ErrCorrupt, id)
	}
	data, err := r.readObject(ctx, PackKey(id), fi.Size-pack.TrailerSize-n, n, pack.MaxTOCSize)
	if err != nil {
		return nil, nil, err
	}
	if got := Sum(data); !bytes.Equal(got[:8], sum[:]) {
		return nil, nil, fmt.Errorf("%w: pack %s: table of contents checksum mismatch", ErrCorrupt, id)
	}
	toc, err := pack.DecodeTOC(data)
	if err != nil {
		return nil, nil, fmt.Errorf("pack %s: %w", id, err)
	}
	if toc.DataSize() != fi.Size-pack.TrailerSize-n {
		return nil, nil, fmt.Errorf("%w: pack %s: frames do not fill the pack", ErrCorrupt, id)
	}
	return toc, data, nil
}

// readExact reads n bytes of an object at off into a buffer of that size.
func (r *packReader) readExact(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if n > 2*MaxFrameSize {
		return nil, fmt.Errorf("%w: %s: read of %d bytes at %d", ErrCorrupt, key, n, off)
	}
	rc, err := r.be.Get(ctx, key, off, n)
	if err != nil {
		return nil, r.wrap("read "+key, err)
	}
	defer rc.Close()
	buf := getBuf(int(n))[:n]
	if _, err := io.ReadFull(rc, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s: short read of %d bytes at %d", ErrCorrupt, key, n, off)
		}
		return nil, r.wrap("read "+key, err)
	}
	return buf, nil
}

// readObject reads a range of an object, at most max bytes.
func (r *packReader) readObject(ctx context.Context, key string, off, n int64, max int64) ([]byte, error) {
	rc, err := r.be.Get(ctx, key, off, n)
	if err != nil {
		return nil, r.wrap("read "+key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, r.wrap("read "+key, err)
	}
	if int64(len(data)) > max || (n >= 0 && int64(len(data)) != n) {
		return nil, fmt.Errorf("%w: %s: read %d bytes, want %d", ErrCorrupt, key, len(data), n)
	}
	return data, nil
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
// decodes when the chunks wanted end well before the frame does: zstd and
// xz decode from the start of a frame, so a chunk early in a large frame
// (recompressed data) then costs a fraction of the frame.
const partialMin = 8 << 20

// streamDecs recycles the streaming decoders of readFramePrefix.
var streamDecs sync.Pool // *zstd.Decoder

// readFramePrefix is readFrame for a caller that needs only the frame's
// first need bytes. It returns at least those.
func (r *packReader) readFramePrefix(ctx context.Context, loc Location, need uint32, dst []byte) ([]byte, error) {
	if loc.FrameULen < partialMin || need > loc.FrameULen-loc.FrameULen/4 {
		return r.readFrame(ctx, loc, dst)
	}
	key := PackKey(loc.Pack)
	comp, err := r.readExact(ctx, key, loc.FrameOffset, int64(loc.FrameCLen))
	if err != nil {
		return nil, err
	}
	defer putBuf(comp)
	if frameCodec(comp) == pack.CodecXZGzip {
		// Its head would take remaking streams from the start anyway.
		return r.decodeFrameOf(ctx, key, loc, comp, dst)
	}
	if cap(dst) < int(need) {
		dst = make([]byte, 0, need)
	}
	dst = dst[:need]
	if frameCodec(comp) == pack.CodecXZ {
		if err := decodeXZ(ctx, comp, dst, false); err != nil {
			return nil, fmt.Errorf("%w: %s: frame at %d: %v", ErrCorrupt, key, loc.FrameOffset, err)
		}
		return dst, nil
	}
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
	if _, err := io.ReadFull(dec, dst); err != nil {
		return nil, fmt.Errorf("%w: %s: frame at %d: %v", ErrCorrupt, key, loc.FrameOffset, err)
	}
	return dst, nil
}

// readFrame fetches and decompresses the frame holding loc into dst (which
// may be nil) and returns it.
func (r *packReader) readFrame(ctx context.Context, loc Location, dst []byte) ([]byte, error) {
	key := PackKey(loc.Pack)
	if loc.FrameULen > MaxFrameSize {
		return nil, fmt.Errorf("%w: %s: frame at %d claims %d bytes", ErrCorrupt, key, loc.FrameOffset, loc.FrameULen)
	}
	comp, err := r.readExact(ctx, key, loc.FrameOffset, int64(loc.FrameCLen))
	if err != nil {
		return nil, err
	}
	defer putBuf(comp)
	return r.decodeFrameOf(ctx, key, loc, comp, dst)
}

// decodeFrameOf decompresses comp, the whole frame at loc in the pack
// stored under key, into dst (which may be nil) and returns it.
func (r *packReader) decodeFrameOf(ctx context.Context, key string, loc Location, comp, dst []byte) ([]byte, error) {
	if loc.FrameULen > MaxFrameSize {
		return nil, fmt.Errorf("%w: %s: frame at %d claims %d bytes", ErrCorrupt, key, loc.FrameOffset, loc.FrameULen)
	}
	if !FrameIsZstd(comp) {
		data, err := DecodeXZFrame(ctx, comp, dst, int(loc.FrameULen))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: frame at %d: %v", ErrCorrupt, key, loc.FrameOffset, err)
		}
		return data, nil
	}
	data, err := r.decodeFrame(dst, comp, loc.FrameULen)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: frame at %d: %v", ErrCorrupt, key, loc.FrameOffset, err)
	}
	if len(data) != int(loc.FrameULen) {
		return nil, fmt.Errorf("%w: %s: frame at %d has %d bytes, want %d", ErrCorrupt, key, loc.FrameOffset, len(data), loc.FrameULen)
	}
	return data, nil
}

// sliceChunk cuts the chunk at loc out of its decompressed frame and checks
// it.
func sliceChunk(frame []byte, loc Location, ref Ref) ([]byte, error) {
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
