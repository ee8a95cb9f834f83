package pack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

const (
	// MaxChunkSize bounds a chunk's length; larger declared lengths are corrupt.
	MaxChunkSize = 16 << 20
	// MaxFrameSize bounds a frame's decompressed length.
	MaxFrameSize = 64 << 20

	// tocMagic starts a table whose frames are all zstd; tocMagicCodecs
	// one that names each frame's codec. Encode writes the first whenever
	// it can, so that packs of zstd frames read as they always did.
	tocMagic       = "NDT1"
	tocMagicCodecs = "NDT2"
)

// Codec says how a frame is compressed.
type Codec uint8

const (
	// CodecZstd is a zstd frame: every frame of a table "NDT1".
	CodecZstd Codec = 0
	// CodecXZ is an xz stream of one LZMA2 block (cold data recompressed
	// by garbage collection).
	CodecXZ Codec = 1
	// CodecXZGzip is an xz stream as CodecXZ's of the frame's expanded
	// form (package gzexpand): its gzip streams replaced by the bytes
	// they decompress to. The frame starts with "NDXG" and the uvarint
	// length of the expanded form, before the xz stream.
	CodecXZGzip Codec = 2

	maxCodec = CodecXZGzip
)

// String returns the codec's name: "zstd", "xz", "xz+gzip".
func (c Codec) String() string {
	switch c {
	case CodecZstd:
		return "zstd"
	case CodecXZ:
		return "xz"
	case CodecXZGzip:
		return "xz+gzip"
	}
	return fmt.Sprintf("codec %d", uint8(c))
}

// ErrCorrupt is wrapped by every error about damaged repository data.
var ErrCorrupt = errors.New("chunkstore: corrupt data")

// FrameInfo describes one frame of a pack.
type FrameInfo struct {
	Offset int64  // in the pack
	CLen   uint32 // compressed length
	ULen   uint32 // decompressed length
	Hash   ID     // BLAKE3 of the compressed bytes
	Codec  Codec
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

// Encode returns the binary form of the table (without trailer): "NDT1"
// when every frame is zstd, else "NDT2", whose frames carry their codec.
func (t *TOC) Encode() []byte {
	b := make([]byte, 0, 16+len(t.Frames)*45+len(t.Chunks)*44)
	codecs := slices.ContainsFunc(t.Frames, func(f FrameInfo) bool { return f.Codec != CodecZstd })
	if codecs {
		b = append(b, tocMagicCodecs...)
	} else {
		b = append(b, tocMagic...)
	}
	b = binary.AppendUvarint(b, uint64(len(t.Frames)))
	for _, f := range t.Frames {
		b = binary.AppendUvarint(b, uint64(f.CLen))
		b = binary.AppendUvarint(b, uint64(f.ULen))
		b = append(b, f.Hash[:]...)
		if codecs {
			b = append(b, byte(f.Codec))
		}
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
	var codecs bool
	switch {
	case bytes.HasPrefix(b, []byte(tocMagic)):
	case bytes.HasPrefix(b, []byte(tocMagicCodecs)):
		codecs = true
	default:
		return nil, fmt.Errorf("%w: table of contents: bad magic", ErrCorrupt)
	}
	d.b = d.b[len(tocMagic):]
	t := &TOC{}
	frameMin := 34
	if codecs {
		frameMin++
	}
	nf := d.Count(len(d.b) / frameMin)
	var off int64
	for i := 0; i < nf && d.err == nil; i++ {
		f := FrameInfo{Offset: off, CLen: d.U32(), ULen: d.U32()}
		f.Hash = d.ID()
		if codecs {
			if c := d.Bytes(1); c != nil {
				f.Codec = Codec(c[0])
			}
		}
		switch {
		case f.ULen > MaxFrameSize:
			d.Fail("frame %d: length %d too large", i, f.ULen)
		case f.Codec > maxCodec:
			d.Fail("frame %d: unknown %s", i, f.Codec)
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
