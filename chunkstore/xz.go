package chunkstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/nardedup/nardedup/chunkstore/gzexpand"
	"github.com/nardedup/nardedup/chunkstore/pack"
)

// Codecs of CopyOptions.Codec: how the frames a copier writes are
// compressed. Ingest always writes zstd.
const (
	// CodecZstd: zstd frames, at CopyOptions.ZstdLevel.
	CodecZstd = "zstd"
	// CodecXZ: xz frames (LZMA2, preset 9e, the dictionary as large as
	// the frame, after the x86 BCJ filter when CopyOptions.XZX86 is set),
	// which need liblzma (HasLibxz) to write. Every build reads them, and
	// repositories holding them say so in their configuration
	// (Config.XZFrames), which older programs refuse. With
	// CopyOptions.XZGzip, the gzip streams of a group are expanded first
	// (pack.CodecXZGzip).
	CodecXZ = "xz"
)

const (
	// xzPreset is liblzma's preset 9 with LZMA_PRESET_EXTREME ("-9e").
	xzPreset = 9 | 1<<31
	// xzMemLimit bounds what decoding one xz frame may allocate: its
	// dictionary is at most MaxFrameSize.
	xzMemLimit = 2 * MaxFrameSize
)

// xzDictSize is the dictionary of a frame of n bytes: no larger than the
// frame or MaxFrameSize, which bounds the encoder's memory (about 11 times
// the dictionary at preset 9) and the decoder's, and no smaller than
// liblzma's minimum.
func xzDictSize(n int) int { return max(min(n, MaxFrameSize), 4096) }

// xzMagic starts every xz stream; a zstd frame starts with 28 b5 2f fd,
// and an xz frame of an expanded group (pack.CodecXZGzip) with
// xzGzipMagic.
var (
	xzMagic     = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	xzGzipMagic = []byte("NDXG")
)

// maxExpanded bounds the expanded form of a group (package gzexpand) in
// an xz+gzip frame, and so the buffer a reader decodes it into.
const maxExpanded = 2 * MaxFrameSize

// frameCodec tells the codec of a compressed frame from its first bytes.
// Locations do not carry the codec their pack's table records; the magic
// numbers of the formats cannot be mistaken for each other, and a frame
// damaged there fails to decode as any.
func frameCodec(comp []byte) pack.Codec {
	switch {
	case bytes.HasPrefix(comp, xzMagic):
		return pack.CodecXZ
	case bytes.HasPrefix(comp, xzGzipMagic):
		return pack.CodecXZGzip
	}
	return pack.CodecZstd
}

// FrameIsZstd reports whether comp, a compressed frame or its start, is a
// zstd frame; the others, which garbage collection writes when it
// recompresses cold data, are decoded by DecodeXZFrame.
func FrameIsZstd(comp []byte) bool { return frameCodec(comp) == pack.CodecZstd }

// DecodeXZFrame decompresses comp, a whole xz or xz+gzip frame of a pack
// that holds size bytes, into dst's storage if it is large enough, and
// returns them. Readers of a store call it themselves; it is exported for
// clients that fetch frames over the read API (package remote).
func DecodeXZFrame(ctx context.Context, comp, dst []byte, size int) ([]byte, error) {
	switch {
	case size < 0 || size > MaxFrameSize:
		return nil, fmt.Errorf("frame of %d bytes", size)
	case frameCodec(comp) == pack.CodecXZGzip:
		return decodeXZGzip(ctx, comp, dst, size)
	case frameCodec(comp) != pack.CodecXZ:
		return nil, fmt.Errorf("not an xz frame")
	}
	if cap(dst) < size {
		dst = make([]byte, 0, size)
	}
	dst = dst[:size]
	if err := decodeXZ(ctx, comp, dst, true); err != nil {
		return nil, err
	}
	return dst, nil
}

// xzGzipEncoder writes xz+gzip frames: the group expanded by package
// gzexpand, then compressed by an xz encoder, and checked by decoding it
// back before it is written, since the chunks' old copies are deleted
// once it is stored. A group with no gzip stream to expand becomes a
// plain xz frame.
type xzGzipEncoder struct{ xz frameEncoder }

func (e xzGzipEncoder) encodeCodec(dst, src []byte) ([]byte, pack.Codec, error) {
	exp, n := gzexpand.Expand(src, maxExpanded)
	if n == 0 {
		out, err := e.xz.encode(dst, src)
		return out, pack.CodecXZ, err
	}
	start := len(dst)
	dst = append(dst, xzGzipMagic...)
	dst = binary.AppendUvarint(dst, uint64(len(exp)))
	dst, err := e.xz.encode(dst, exp)
	if err != nil {
		return dst, 0, err
	}
	back, err := decodeXZGzip(context.Background(), dst[start:], nil, len(src))
	if err != nil {
		return dst, 0, fmt.Errorf("chunkstore: xz+gzip frame of %d bytes does not decode: %w", len(src), err)
	}
	if !bytes.Equal(back, src) {
		return dst, 0, fmt.Errorf("chunkstore: xz+gzip frame of %d bytes decodes to other bytes", len(src))
	}
	return dst, pack.CodecXZGzip, nil
}

func (e xzGzipEncoder) encode(dst, src []byte) ([]byte, error) {
	out, _, err := e.encodeCodec(dst, src)
	return out, err
}

func (e xzGzipEncoder) close() { e.xz.close() }

// decodeXZGzip decodes the xz+gzip frame comp, whose group is size bytes,
// into dst's storage if it is large enough.
func decodeXZGzip(ctx context.Context, comp, dst []byte, size int) ([]byte, error) {
	body := comp[len(xzGzipMagic):]
	n, k := binary.Uvarint(body)
	if k <= 0 || n == 0 || n > maxExpanded {
		return nil, fmt.Errorf("xz+gzip: bad length of the expanded group")
	}
	body = body[k:]
	exp := getBuf(int(n))[:n]
	defer putBuf(exp)
	if err := decodeXZ(ctx, body, exp, true); err != nil {
		return nil, err
	}
	return gzexpand.Restore(dst, exp, size)
}
