package chunkstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
)

const (
	// MaxChunkSize bounds a chunk's length; larger declared lengths are corrupt.
	MaxChunkSize = 16 << 20
	// MaxFrameSize bounds a frame's decompressed length.
	MaxFrameSize = 64 << 20
	// maxTOCSize bounds a table of contents, so a damaged trailer cannot make
	// a reader allocate more.
	maxTOCSize = 64 << 20

	trailerSize = 16
	packMagic   = "NDPK"
	tocMagic    = "NDT1"
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
	d := decoder{b: b}
	if !bytes.HasPrefix(b, []byte(tocMagic)) {
		return nil, fmt.Errorf("%w: table of contents: bad magic", ErrCorrupt)
	}
	d.b = d.b[len(tocMagic):]
	t := &TOC{}
	nf := d.count(len(d.b) / 34)
	var off int64
	for i := 0; i < nf && d.err == nil; i++ {
		f := FrameInfo{Offset: off, CLen: d.u32(), ULen: d.u32()}
		f.Hash = d.id()
		if f.ULen > MaxFrameSize {
			d.fail("frame %d: length %d too large", i, f.ULen)
		}
		off += int64(f.CLen)
		t.Frames = append(t.Frames, f)
	}
	nc := d.count(len(d.b) / 35)
	for i := 0; i < nc && d.err == nil; i++ {
		c := ChunkInfo{ID: d.id(), Frame: d.u32(), Offset: d.u32(), Length: d.u32()}
		if d.err == nil && (int(c.Frame) >= len(t.Frames) ||
			uint64(c.Offset)+uint64(c.Length) > uint64(t.Frames[c.Frame].ULen)) {
			d.fail("chunk %d lies outside its frame", i)
		}
		t.Chunks = append(t.Chunks, c)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
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

// appendTrailer appends the table and trailer to a pack's frames.
func appendTrailer(pack, toc []byte) []byte {
	pack = append(pack, toc...)
	sum := blake3.Sum256(toc)
	pack = binary.LittleEndian.AppendUint32(pack, uint32(len(toc)))
	pack = append(pack, sum[:8]...)
	return append(pack, packMagic...)
}

// ParseTrailer reads a pack's 16-byte trailer and returns the length of its
// table of contents and the first 8 bytes of the table's BLAKE3.
func ParseTrailer(tr []byte) (tocLen int64, sum [8]byte, err error) {
	if len(tr) != trailerSize || string(tr[12:]) != packMagic {
		return 0, sum, fmt.Errorf("%w: pack trailer: bad magic", ErrCorrupt)
	}
	tocLen = int64(binary.LittleEndian.Uint32(tr))
	if tocLen > maxTOCSize {
		return 0, sum, fmt.Errorf("%w: pack trailer: table of %d bytes", ErrCorrupt, tocLen)
	}
	copy(sum[:], tr[4:12])
	return tocLen, sum, nil
}

// decoder reads uvarints and ids with a sticky error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	v := d.uvarint()
	if v > 1<<32-1 {
		d.fail("value %d out of range", v)
	}
	return uint32(v)
}

// count reads a count that may not exceed limit (an upper bound derived from
// the bytes left), so a hostile count cannot make the caller allocate.
func (d *decoder) count(limit int) int {
	v := d.uvarint()
	if v > uint64(limit) {
		d.fail("count %d exceeds the data", v)
		return 0
	}
	return int(v)
}

func (d *decoder) id() ID {
	var id ID
	if d.err != nil {
		return id
	}
	if len(d.b) < IDSize {
		d.fail("truncated id")
		return id
	}
	copy(id[:], d.b)
	d.b = d.b[IDSize:]
	return id
}
