package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nardedup/nardedup/chunkstore/pack"
)

// Zstd levels of CopyOptions.ZstdLevel.
const (
	// MaxKlauspostLevel is the highest level that klauspost/compress
	// encodes (4, about libzstd's 11); ingest uses its levels 1-4.
	MaxKlauspostLevel = 4
	// MaxZstdLevel is the highest level of libzstd (22).
	MaxZstdLevel = 22
	// MaxWindowLog bounds CopyOptions.WindowLog: readers decode windows of
	// at most MaxFrameSize bytes.
	MaxWindowLog = 26
)

// CopyOptions configure a Copier.
type CopyOptions struct {
	// GroupSize bounds the chunk bytes of one frame of the new packs
	// (default: the repository's GroupSize), up to MaxFrameSize. Copying
	// cold data into larger groups compresses it better, at the price of
	// decompressing more of a frame to read one chunk of it.
	GroupSize int
	// ZstdLevel is the level of the new frames (default: the
	// repository's). Levels 1 to 4 are those of the repository's encoder
	// (Config.Encoder); 5 to 22 are libzstd's levels of that number,
	// which need a program built with cgo (HasLibzstd).
	ZstdLevel int
	// WindowLog, for libzstd levels, bounds how far back a frame refers:
	// 1<<WindowLog bytes, 10 to MaxWindowLog (default: the smallest
	// power of two that holds GroupSize, so that a frame can refer to any
	// of its bytes).
	WindowLog int
	// NoLongDistance, for libzstd levels, turns off long distance matching
	// (on by default), which finds repeats farther back than the level's
	// own match finder looks.
	NoLongDistance bool
	// Workers compress that many frames at a time (default 1).
	Workers int
	// Codec compresses the new frames: CodecZstd (the default) or
	// CodecXZ, which needs HasLibxz and a repository whose configuration
	// allows xz frames (Config.XZFrames). The zstd options above do not
	// apply to xz frames, whose encoder takes about 11 times GroupSize
	// of memory per worker.
	Codec string
	// XZX86 puts xz frames through the x86 BCJ filter first, which turns
	// the relative addresses of x86 calls and jumps into absolute ones.
	XZX86 bool
	// XZGzip expands the gzip streams that GNU gzip's encoder remakes
	// exactly in each group of an xz copy (package gzexpand), which xz
	// then compresses far better; the repository's configuration must
	// allow such frames (Config.XZGzipFrames). Reading such a frame costs
	// remaking its streams, at gzip's speed.
	XZGzip bool
}

// CopyResult counts what a Copier wrote.
type CopyResult struct {
	Chunks      int
	Bytes       int64 // uncompressed
	StoredBytes int64 // compressed frames
	Frames      int
}

// A Copier writes chunks already stored into new packs, for garbage
// collection to repack the live chunks of mostly dead packs, or to
// recompress cold ones. The copies are made whether or not the index knows
// the chunks already: that is the point. Chunks are copied in the order
// they are given, and those of one pack in the order they lie in it, so the
// chunks of one NAR stay together. Close makes the copies durable and
// indexed.
//
// Frames are compressed by Options.Workers goroutines and appended to packs
// in the order their groups were filled.
type Copier struct {
	s     *Store
	opts  CopyOptions
	group []byte
	infos []pack.ChunkInfo

	chunks int
	bytes  int64
	closed bool

	encs  []frameEncoder
	codec pack.Codec    // of the frames encs write
	work  chan *copyJob // to the compressing workers
	seq   chan *copyJob // to the appender, in order
	wg    sync.WaitGroup
	done  chan struct{} // closed when the appender has finished

	mu     sync.Mutex // guards stored, frames and err
	stored int64
	frames int
	err    error
}

// copyJob is one group on its way into a pack.
type copyJob struct {
	group []byte
	infos []pack.ChunkInfo
	frame []byte
	codec pack.Codec
	err   error
	done  chan struct{}
}

// NewCopier returns a Copier into s.
func (s *Store) NewCopier(opts CopyOptions) (*Copier, error) {
	if opts.GroupSize <= 0 {
		opts.GroupSize = s.cfg.GroupSize
	}
	// The repository's own level may fall back to klauspost's nearest in
	// a build without libzstd; a level asked for may not.
	fallback := opts.ZstdLevel == 0
	if fallback {
		opts.ZstdLevel = s.cfg.ZstdLevel
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.WindowLog == 0 {
		opts.WindowLog = frameWindowLog(opts.GroupSize)
	}
	switch {
	case opts.GroupSize < int(s.cfg.Chunker.MaxSize) || opts.GroupSize > MaxFrameSize:
		return nil, fmt.Errorf("chunkstore: copy group size %d outside [%d, %d]", opts.GroupSize, s.cfg.Chunker.MaxSize, MaxFrameSize)
	case opts.ZstdLevel < 1 || opts.ZstdLevel > MaxZstdLevel:
		return nil, fmt.Errorf("chunkstore: copy zstd level %d outside 1-%d", opts.ZstdLevel, MaxZstdLevel)
	case opts.WindowLog < 10 || opts.WindowLog > MaxWindowLog:
		return nil, fmt.Errorf("chunkstore: copy window log %d outside 10-%d", opts.WindowLog, MaxWindowLog)
	}
	c := &Copier{s: s, opts: opts, codec: pack.CodecZstd,
		work: make(chan *copyJob), seq: make(chan *copyJob, opts.Workers), done: make(chan struct{})}
	switch opts.Codec {
	case CodecXZ:
		if !s.cfg.XZFrames {
			return nil, fmt.Errorf("chunkstore: copy into xz frames: the repository's configuration does not allow them (xz_frames)")
		}
		enc, err := newXZEncoder(xzPreset, opts.XZX86)
		if err != nil {
			return nil, err
		}
		c.codec = pack.CodecXZ
		if opts.XZGzip {
			if !s.cfg.XZGzipFrames {
				return nil, fmt.Errorf("chunkstore: copy into xz frames with gzip streams expanded: the repository's configuration does not allow them (xz_gzip_frames)")
			}
			enc = xzGzipEncoder{enc}
		}
		c.encs = []frameEncoder{enc}
	case "", CodecZstd:
		if err := c.zstdEncoders(fallback); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("chunkstore: unknown copy codec %q (want %s or %s)", opts.Codec, CodecZstd, CodecXZ)
	}
	for i := range opts.Workers {
		enc := c.encs[min(i, len(c.encs)-1)]
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for j := range c.work {
				if ce, ok := enc.(codecEncoder); ok {
					j.frame, j.codec, j.err = ce.encodeCodec(nil, j.group)
				} else {
					j.frame, j.err = enc.encode(nil, j.group)
					j.codec = c.codec
				}
				close(j.done)
			}
		}()
	}
	go c.appender()
	return c, nil
}

// zstdEncoders makes the encoders of zstd frames (see newFrameEncoder for
// fallback).
func (c *Copier) zstdEncoders(fallback bool) error {
	s, opts := c.s, c.opts
	if opts.ZstdLevel <= MaxKlauspostLevel && s.cfg.Encoder != EncoderLibzstd {
		// klauspost's encoder is safe for concurrent use: the workers share it.
		enc, err := newFrameEncoder(s.cfg.Encoder, opts.ZstdLevel, opts.WindowLog, false, fallback)
		if err != nil {
			return err
		}
		c.encs = []frameEncoder{enc}
		return nil
	}
	for range opts.Workers {
		enc, err := newFrameEncoder(s.cfg.Encoder, opts.ZstdLevel, opts.WindowLog, !opts.NoLongDistance, fallback)
		if err != nil {
			c.closeEncoders()
			return err
		}
		c.encs = append(c.encs, enc)
	}
	return nil
}

func (c *Copier) closeEncoders() {
	for _, e := range c.encs {
		e.close()
	}
	c.encs = nil
}

// maxStaged bounds the chunk bytes CopyPack keeps in memory between
// checking a pack and copying it; the frames holding the rest are read
// again. A variable for the tests.
var maxStaged = 32 << 20

// DamagedPackError is returned by CopyPack for a pack some frames of which
// cannot be read back: none of its chunks were copied.
type DamagedPackError struct {
	Pack ID
	// Chunks are the chunks to copy that lie in the damaged frames.
	Chunks []ID
	Frames int   // damaged frames
	Err    error // the first frame's error (wraps ErrCorrupt)
}

func (e *DamagedPackError) Error() string {
	return fmt.Sprintf("chunkstore: pack %s: %d damaged frames holding %d chunks to copy: %v",
		e.Pack, e.Frames, len(e.Chunks), e.Err)
}

func (e *DamagedPackError) Unwrap() error { return e.Err }

// stagedFrame is a frame CopyPack has read and checked, with the bytes of
// its kept chunks (nil if they did not fit maxStaged).
type stagedFrame struct {
	f    Frame
	kept []int
	n    int
	data []byte
}

// CopyPack copies the chunks of pack for which keep reports true, frame
// by frame (CopyFrame), but only once it has read and checked every frame
// holding one: a pack that is damaged where a kept chunk lies is skipped
// whole, none of its chunks copied, and a *DamagedPackError returned; the
// copier can go on with other packs. Any other error (the backend's) may
// leave part of the pack copied.
func (c *Copier) CopyPack(ctx context.Context, pack ID, keep func(ID) bool) error {
	if err := c.failed(); err != nil {
		return err
	}
	frames, err := c.s.PackFrames(pack)
	if err != nil {
		return err
	}
	var staged []stagedFrame
	var damage *DamagedPackError
	budget := maxStaged
	for _, f := range frames {
		kept, n := keptChunks(f, keep)
		if len(kept) == 0 {
			continue
		}
		frame, chunks, err := c.readKept(ctx, f, kept)
		if errors.Is(err, ErrCorrupt) {
			if damage == nil {
				damage = &DamagedPackError{Pack: pack, Err: err}
			}
			damage.Frames++
			for _, i := range kept {
				damage.Chunks = append(damage.Chunks, f.Chunks[i])
			}
			continue
		}
		if err != nil {
			return err
		}
		sf := stagedFrame{f: f, kept: kept, n: n}
		if damage == nil && n <= budget {
			budget -= n
			sf.data = make([]byte, 0, n)
			for _, d := range chunks {
				sf.data = append(sf.data, d...)
			}
		}
		putBuf(frame)
		staged = append(staged, sf)
	}
	if damage != nil {
		return damage
	}
	for _, sf := range staged {
		if sf.data == nil {
			if err := c.copyKept(ctx, sf.f, sf.kept, sf.n); err != nil {
				return err
			}
			continue
		}
		if err := c.makeRoom(sf.n); err != nil {
			return err
		}
		off := 0
		for _, i := range sf.kept {
			l := int(sf.f.Locs[i].Length)
			c.add(sf.f.Chunks[i], sf.data[off:off+l])
			off += l
		}
	}
	return nil
}

// CopyFrame copies the chunks of f for which keep reports true. Each
// chunk is read and checked against its id. The kept chunks of one frame
// go into one new frame, so a stream whose chunks lay in n frames is read
// back from at most n frames. The kept chunks of the frames copied one
// after the other share a new frame while they fit in GroupSize.
func (c *Copier) CopyFrame(ctx context.Context, f Frame, keep func(ID) bool) error {
	if err := c.failed(); err != nil {
		return err
	}
	kept, n := keptChunks(f, keep)
	if len(kept) == 0 {
		return nil
	}
	return c.copyKept(ctx, f, kept, n)
}

// keptChunks returns the indexes in f of the chunks keep reports true for,
// and their bytes.
func keptChunks(f Frame, keep func(ID) bool) (kept []int, n int) {
	for i, id := range f.Chunks {
		if keep(id) {
			kept = append(kept, i)
			n += int(f.Locs[i].Length)
		}
	}
	return kept, n
}

// readKept reads f and returns the kept chunks, checked, which lie in
// frame; the caller puts frame back (putBuf).
func (c *Copier) readKept(ctx context.Context, f Frame, kept []int) (frame []byte, chunks [][]byte, err error) {
	frame, err = c.s.rd.readFrame(ctx, f.Loc, getBuf(int(f.Loc.FrameULen)))
	if err != nil {
		return nil, nil, err
	}
	chunks = make([][]byte, len(kept))
	for k, i := range kept {
		chunks[k], err = sliceChunk(frame, f.Locs[i], Ref{ID: f.Chunks[i], Size: f.Locs[i].Length})
		if err != nil {
			putBuf(frame)
			return nil, nil, err
		}
	}
	return frame, chunks, nil
}

// copyKept reads f and adds its kept chunks, n bytes, to the group.
func (c *Copier) copyKept(ctx context.Context, f Frame, kept []int, n int) error {
	frame, chunks, err := c.readKept(ctx, f, kept)
	if err != nil {
		return err
	}
	defer putBuf(frame)
	if err := c.makeRoom(n); err != nil {
		return err
	}
	for k, i := range kept {
		c.add(f.Chunks[i], chunks[k])
	}
	return nil
}

// makeRoom flushes the group if n more bytes would not fit in it.
func (c *Copier) makeRoom(n int) error {
	if len(c.group)+n > c.opts.GroupSize {
		return c.flush()
	}
	return nil
}

func (c *Copier) add(id ID, data []byte) {
	c.infos = append(c.infos, pack.ChunkInfo{ID: id, Offset: uint32(len(c.group)), Length: uint32(len(data))})
	c.group = append(c.group, data...)
	c.chunks++
	c.bytes += int64(len(data))
}

func (c *Copier) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Copier) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// flush hands the group to the workers. It blocks while Workers groups
// wait to be appended, which bounds the memory the groups take.
func (c *Copier) flush() error {
	if err := c.failed(); err != nil {
		return err
	}
	if len(c.infos) == 0 {
		return nil
	}
	j := &copyJob{group: c.group, infos: c.infos, done: make(chan struct{})}
	c.group, c.infos = make([]byte, 0, min(c.opts.GroupSize, 2*len(j.group))), nil
	c.seq <- j
	c.work <- j
	return nil
}

// appender appends the compressed groups to packs, in the order they were
// filled.
func (c *Copier) appender() {
	defer close(c.done)
	for j := range c.seq {
		<-j.done
		err := j.err
		if err == nil && c.failed() == nil {
			t := newTicket()
			c.s.appendFrame(j.frame, j.codec, len(j.group), j.infos, t)
			<-t.done
			err = t.err
		}
		if err != nil {
			c.fail(err)
			continue
		}
		c.mu.Lock()
		c.stored += int64(len(j.frame))
		c.frames++
		c.mu.Unlock()
	}
}

// Close writes the last frame and waits until every copy is stored and
// indexed.
func (c *Copier) Close(ctx context.Context) (CopyResult, error) {
	if c.closed {
		return c.result(), errors.New("chunkstore: copier closed twice")
	}
	c.closed = true
	err := c.flush()
	close(c.work)
	c.wg.Wait()
	close(c.seq)
	<-c.done
	c.closeEncoders()
	if ferr := c.failed(); err == nil {
		err = ferr
	}
	if ferr := c.s.Flush(ctx); err == nil {
		err = ferr
	}
	return c.result(), err
}

func (c *Copier) result() CopyResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CopyResult{Chunks: c.chunks, Bytes: c.bytes, StoredBytes: c.stored, Frames: c.frames}
}
