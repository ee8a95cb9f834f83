package chunkstore

import (
	"context"
	"fmt"
	"math/bits"
	"sort"

	"github.com/klauspost/compress/zstd"
)

// CopyOptions configure a Copier.
type CopyOptions struct {
	// GroupSize bounds the chunk bytes of one frame of the new packs
	// (default: the repository's GroupSize). Copying cold data into larger
	// groups compresses it better.
	GroupSize int
	// ZstdLevel is the level of the new frames, 1 to 4 (default: the
	// repository's).
	ZstdLevel int
}

// CopyResult counts what a Copier wrote.
type CopyResult struct {
	Chunks      int
	Bytes       int64 // uncompressed
	StoredBytes int64 // compressed frames
}

// A Copier writes chunks already stored into new packs, for garbage
// collection to repack the live chunks of mostly dead packs. The copies are
// made whether or not the index knows the chunks already: that is the
// point. Chunks are copied in the order they lie in their packs, so the
// chunks of one NAR stay together. Close makes the copies durable and
// indexed.
type Copier struct {
	s     *Store
	opts  CopyOptions
	enc   *zstd.Encoder
	group []byte
	infos []ChunkInfo
	res   CopyResult
	err   error
}

// NewCopier returns a Copier into s.
func (s *Store) NewCopier(opts CopyOptions) (*Copier, error) {
	if opts.GroupSize <= 0 {
		opts.GroupSize = s.cfg.GroupSize
	}
	if opts.ZstdLevel == 0 {
		opts.ZstdLevel = s.cfg.ZstdLevel
	}
	if opts.GroupSize < int(s.cfg.Chunker.MaxSize) || opts.GroupSize > MaxFrameSize {
		return nil, fmt.Errorf("chunkstore: copy group size %d outside [%d, %d]", opts.GroupSize, s.cfg.Chunker.MaxSize, MaxFrameSize)
	}
	if opts.ZstdLevel < 1 || opts.ZstdLevel > 4 {
		return nil, fmt.Errorf("chunkstore: copy zstd level %d outside 1-4", opts.ZstdLevel)
	}
	window := 1 << bits.Len(uint(opts.GroupSize-1))
	window = min(max(window, zstd.MinWindowSize), zstd.MaxWindowSize)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevel(opts.ZstdLevel)),
		zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(window))
	if err != nil {
		return nil, err
	}
	return &Copier{s: s, opts: opts, enc: enc}, nil
}

// PackChunks calls fn with every chunk of an indexed pack, in the order
// they lie in the pack.
func (s *Store) PackChunks(pack ID, fn func(ID, Location) error) error {
	type entry struct {
		id  ID
		loc Location
	}
	var all []entry
	err := s.idx.packChunks(pack, func(id ID, loc Location) error {
		all = append(all, entry{id, loc})
		return nil
	})
	if err != nil {
		return s.wrap("read local index", err)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].loc, all[j].loc
		if a.FrameOffset != b.FrameOffset {
			return a.FrameOffset < b.FrameOffset
		}
		return a.Offset < b.Offset
	})
	for _, e := range all {
		if err := fn(e.id, e.loc); err != nil {
			return err
		}
	}
	return nil
}

// Packs calls fn with the id of every pack in the local index.
func (s *Store) Packs(fn func(ID) error) error {
	if err := s.idx.packs(fn); err != nil {
		return s.wrap("read local index", err)
	}
	return nil
}

// Locations calls fn with every indexed location of chunk id, in pack id
// order.
func (s *Store) Locations(id ID, fn func(Location) error) error {
	if err := s.idx.locations(id, fn); err != nil {
		return s.wrap("read local index", err)
	}
	return nil
}

// CopyPack copies the chunks of pack for which keep reports true. Each
// chunk is read and checked against its id. The kept chunks of one frame
// of the pack go into one new frame, so a stream whose chunks lay in n
// frames is read back from at most n frames.
func (c *Copier) CopyPack(ctx context.Context, pack ID, keep func(ID) bool) error {
	if c.err != nil {
		return c.err
	}
	var (
		frame []byte
		floc  Location
		ids   []ID
		locs  []Location
	)
	defer func() { putBuf(frame) }()
	// copyFrame copies the kept chunks of the frame at floc.
	copyFrame := func() error {
		if len(ids) == 0 {
			return nil
		}
		var err error
		if frame, err = c.s.readFrame(ctx, floc, getBuf(int(floc.FrameULen))); err != nil {
			frame = nil
			return err
		}
		var n int
		for _, l := range locs {
			n += int(l.Length)
		}
		if len(c.group)+n > c.opts.GroupSize {
			if err := c.flush(); err != nil {
				return err
			}
		}
		for i, id := range ids {
			data, err := c.s.slice(frame, locs[i], Ref{ID: id, Size: locs[i].Length})
			if err != nil {
				return err
			}
			c.add(id, data)
		}
		putBuf(frame)
		frame, ids, locs = nil, ids[:0], locs[:0]
		return nil
	}
	err := c.s.PackChunks(pack, func(id ID, loc Location) error {
		if !keep(id) {
			return nil
		}
		if len(ids) > 0 && floc.FrameOffset != loc.FrameOffset {
			if err := copyFrame(); err != nil {
				return err
			}
		}
		floc = loc
		ids, locs = append(ids, id), append(locs, loc)
		return nil
	})
	if err == nil {
		err = copyFrame()
	}
	return err
}

func (c *Copier) add(id ID, data []byte) {
	c.infos = append(c.infos, ChunkInfo{ID: id, Offset: uint32(len(c.group)), Length: uint32(len(data))})
	c.group = append(c.group, data...)
	c.res.Chunks++
	c.res.Bytes += int64(len(data))
}

func (c *Copier) flush() error {
	if len(c.infos) == 0 {
		return nil
	}
	frame := c.enc.EncodeAll(c.group, make([]byte, 0, len(c.group)/2))
	t := newTicket()
	c.s.appendFrame(frame, len(c.group), c.infos, t)
	<-t.done
	c.res.StoredBytes += int64(len(frame))
	c.group, c.infos = c.group[:0], nil
	if t.err != nil {
		c.err = t.err
	}
	return t.err
}

// Close writes the last frame and waits until every copy is stored and
// indexed.
func (c *Copier) Close(ctx context.Context) (CopyResult, error) {
	err := c.flush()
	if ferr := c.s.Flush(ctx); err == nil {
		err = ferr
	}
	c.enc.Close()
	return c.res, err
}
