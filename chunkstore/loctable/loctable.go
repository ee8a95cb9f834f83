// Package loctable encodes where a NAR's chunks lie, as its manifest
// carries it, so that a reader finds every chunk without an index.
//
// A table has sections (a manifest has three: the chunks of its recipe
// stream, of its positions stream, and of its residue). Each section lists
// one location per chunk, in stream order, as runs: consecutive chunks that
// lie one after the other in one frame of one pack share a run, so a table
// costs a few bytes per frame a stream touches, not per chunk. The pack
// ids are listed once for the whole table.
//
// Encoding (all integers unsigned varints):
//
//	table   = npacks, npacks × 32-byte pack id, sections × section
//	section = nruns, nruns × run
//	run     = pack index, frame offset, frame compressed length,
//	          frame decompressed length, offset of the first chunk, chunks
//
// A chunk's length is not stored: the stream's own list of chunks holds
// it, and Cursor.Next takes it.
package loctable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/nardedup/nardedup/chunkstore/index"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

// ErrCorrupt is wrapped by errors about a table that does not decode or
// does not fit the chunks it is read with.
var ErrCorrupt = errors.New("loctable: corrupt location table")

// MaxFrameSize bounds a frame's lengths in a decoded table.
const MaxFrameSize = 1 << 30

type run struct {
	pack        uint64 // index into the pack list
	frameOffset uint64
	clen, ulen  uint64
	offset      uint64 // of the first chunk in the decompressed frame
	count       uint64
	next        uint64 // offset the next chunk of the run would have
}

// Builder collects locations section by section. The zero Builder is not
// usable; call NewBuilder.
type Builder struct {
	packs    []pack.ID
	packIdx  map[pack.ID]uint64
	sections [][]run
}

// NewBuilder returns a Builder of a table with the given number of
// sections.
func NewBuilder(sections int) *Builder {
	return &Builder{packIdx: make(map[pack.ID]uint64), sections: make([][]run, sections)}
}

// Add appends the location of the next chunk of section.
func (b *Builder) Add(section int, loc index.Location) {
	p, ok := b.packIdx[loc.Pack]
	if !ok {
		p = uint64(len(b.packs))
		b.packs = append(b.packs, loc.Pack)
		b.packIdx[loc.Pack] = p
	}
	runs := b.sections[section]
	if n := len(runs); n > 0 {
		r := &runs[n-1]
		if r.pack == p && r.frameOffset == uint64(loc.FrameOffset) && r.next == uint64(loc.Offset) {
			r.count++
			r.next += uint64(loc.Length)
			return
		}
	}
	b.sections[section] = append(runs, run{pack: p, frameOffset: uint64(loc.FrameOffset),
		clen: uint64(loc.FrameCLen), ulen: uint64(loc.FrameULen), offset: uint64(loc.Offset),
		count: 1, next: uint64(loc.Offset) + uint64(loc.Length)})
}

// Encode returns the table's binary form.
func (b *Builder) Encode() []byte {
	out := binary.AppendUvarint(nil, uint64(len(b.packs)))
	for _, p := range b.packs {
		out = append(out, p[:]...)
	}
	for _, runs := range b.sections {
		out = binary.AppendUvarint(out, uint64(len(runs)))
		for _, r := range runs {
			for _, v := range [...]uint64{r.pack, r.frameOffset, r.clen, r.ulen, r.offset, r.count} {
				out = binary.AppendUvarint(out, v)
			}
		}
	}
	return out
}

// Table is a decoded table: the pack list and each section's runs, still
// encoded, read on demand by a Cursor.
type Table struct {
	packs    []pack.ID
	sections [][]byte
	counts   []uint64 // chunks in each section
}

// Decode parses a table with the given number of sections, checking its
// structure; it holds on to b.
func Decode(b []byte, sections int) (*Table, error) {
	d := pack.NewDecoder(b)
	t := &Table{}
	n := d.Count(d.Len() / pack.IDSize)
	for range n {
		t.packs = append(t.packs, d.ID())
	}
	for range sections {
		start := len(b) - d.Len()
		nruns := d.Uvarint()
		var count uint64
		for i := uint64(0); i < nruns && d.Err() == nil; i++ {
			r := readRun(d)
			if r.pack >= uint64(len(t.packs)) {
				d.Fail("pack %d of %d", r.pack, len(t.packs))
			}
			count += r.count
		}
		if d.Err() != nil {
			return nil, corrupt(d.Err())
		}
		t.sections = append(t.sections, b[start:len(b)-d.Len()])
		t.counts = append(t.counts, count)
	}
	if d.Err() == nil && d.Len() != 0 {
		d.Fail("%d bytes after the last section", d.Len())
	}
	if d.Err() != nil {
		return nil, corrupt(d.Err())
	}
	return t, nil
}

// corrupt rewraps an error of pack.Decoder as this package's.
func corrupt(err error) error {
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}

// Len returns the number of chunks section locates.
func (t *Table) Len(section int) uint64 { return t.counts[section] }

// Packs returns the ids of the packs the table names.
func (t *Table) Packs() []pack.ID { return t.packs }

// Cursor returns a cursor at the first chunk of section.
func (t *Table) Cursor(section int) *Cursor {
	c := &Cursor{t: t, d: pack.NewDecoder(t.sections[section])}
	c.d.Uvarint() // the run count, checked by Decode
	return c
}

// Cursor reads a section's locations in order.
type Cursor struct {
	t    *Table
	d    *pack.Decoder
	cur  run
	left uint64 // chunks left in cur
}

// Next returns the location of the next chunk, whose length is size.
func (c *Cursor) Next(size uint32) (index.Location, error) {
	if c.left == 0 {
		if c.d.Len() == 0 {
			return index.Location{}, fmt.Errorf("%w: more chunks than locations", ErrCorrupt)
		}
		c.cur = readRun(c.d)
		if c.d.Err() != nil {
			return index.Location{}, corrupt(c.d.Err())
		}
		c.left = c.cur.count
	}
	r := &c.cur
	if r.offset+uint64(size) > r.ulen {
		return index.Location{}, fmt.Errorf("%w: chunk at %d+%d beyond its frame of %d bytes",
			ErrCorrupt, r.offset, size, r.ulen)
	}
	loc := index.Location{Pack: c.t.packs[r.pack], FrameOffset: int64(r.frameOffset),
		FrameCLen: uint32(r.clen), FrameULen: uint32(r.ulen), Offset: uint32(r.offset), Length: size}
	r.offset += uint64(size)
	c.left--
	return loc, nil
}

// Done reports an error unless every location of the section was read.
func (c *Cursor) Done() error {
	if c.left != 0 || c.d.Len() != 0 {
		return fmt.Errorf("%w: fewer chunks than locations", ErrCorrupt)
	}
	return nil
}

// readRun reads a run, checking that it fits its frame.
func readRun(d *pack.Decoder) run {
	r := run{pack: d.Uvarint(), frameOffset: d.Uvarint(), clen: d.Uvarint(), ulen: d.Uvarint(),
		offset: d.Uvarint(), count: d.Uvarint()}
	switch {
	case d.Err() != nil:
	case r.count == 0 || r.count > MaxFrameSize:
		d.Fail("run of %d chunks", r.count)
	case r.clen == 0 || r.clen > MaxFrameSize || r.ulen == 0 || r.ulen > MaxFrameSize:
		d.Fail("frame of %d/%d bytes", r.clen, r.ulen)
	case r.frameOffset > math.MaxInt64-r.clen || r.offset >= r.ulen:
		d.Fail("run at frame %d offset %d", r.frameOffset, r.offset)
	}
	return r
}
