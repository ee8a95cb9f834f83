package pack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	// MaxChunkSize bounds a chunk's length; larger declared lengths are corrupt.
	MaxChunkSize = 16 << 20
	// MaxFrameSize bounds a frame's decompressed length.
	MaxFrameSize = 64 << 20

	tocMagic = "NDT1"
)

// ErrCorrupt is wrapped by every error about damaged repository data.
var ErrCorrupt = errors.New("chunkstore: corrupt data")

// FrameInfo describes one zstd frame of a pack.
type FrameInfo struct {
	Offset int64  // in the pack
	CLen   uint32 // compressed length
	ULen   uint32 // decompressed length
	Hash   ID     // BLAKE3 of the compressed bytes
}

// ChunkInfo places one chunk inside a pack.
type ChunkInfo struct {
	ID     ID
	Frame  uint32 // index into TOC.Frames
	Offset uint32 // in the decompressed frame
	Length uint32
}

// TOC is a pack's table of contents.
type TOC struct {
	Frames []FrameInfo
	Chunks []ChunkInfo
}

// Encode returns the binary form of the table (without trailer).
func (t *TOC) Encode() []byte {
	b := make([]byte, 0, 16+len(t.Frames)*44+len(t.Chunks)*44)
	b = append(b, tocMagic...)
	b = binary.AppendUvarint(b, uint64(len(t.Frames)))
	for _, f := range t.Frames {
		b = binary.AppendUvarint(b, uint64(f.CLen))
		b = binary.AppendUvarint(b, uint64(f.ULen))
		b = append(b, f.Hash[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(t.Chunks)))
	for _, c := range t.Chunks {
		b = append(b, c.ID[:]...)
		b = binary.AppendUvarint(b, uint64(c.Frame))
		b = binary.AppendUvarint(b, uint64(c.Offset))
		b = binary.AppendUvarint(b, uint64(c.Length))
	}
	return b
}

// DecodeTOC parses a table of contents written by Encode and checks that it
// is self-consistent: every chunk lies inside its frame.
func DecodeTOC(b []byte) (*TOC, error) {
	d := Decoder{b: b}
	if !bytes.HasPrefix(b, []byte(tocMagic)) {
		return nil, fmt.Errorf("%w: table of contents: bad magic", ErrCorrupt)
	}
	d.b = d.b[len(tocMagic):]
	t := &TOC{}
	nf := d.Count(len(d.b) / 34)
	var off int64
	for i := 0; i < nf && d.err == nil; i++ {
		f := FrameInfo{Offset: off, CLen: d.U32(), ULen: d.U32()}
		f.Hash = d.ID()
		if f.ULen > MaxFrameSize {
			d.Fail("frame %d: length %d too large", i, f.ULen)
		}
		off += int64(f.CLen)
		t.Frames = append(t.Frames, f)
	}
	nc := d.Count(len(d.b) / 35)
	for i := 0; i < nc && d.err == nil; i++ {
		c := ChunkInfo{ID: d.ID(), Frame: d.U32(), Offset: d.U32(), Length: d.U32()}
		if d.err == nil && (int(c.Frame) >= len(t.Frames) ||
			uint64(c.Offset)+uint64(c.Length) > uint64(t.Frames[c.Frame].ULen)) {
			d.Fail("chunk %d lies outside its frame", i)
		}
		t.Chunks = append(t.Chunks, c)
	}
	if d.err == nil && len(d.b) != 0 {
		d.Fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return t, nil
}

// DataSize returns the total length of the pack's frames.
func (t *TOC) DataSize() int64 {
	if len(t.Frames) == 0 {
		return 0
	}
	last := t.Frames[len(t.Frames)-1]
	return last.Offset + int64(last.CLen)
}
