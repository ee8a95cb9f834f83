package chunkstore

import (
	"bytes"

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
	// (Config.XZFrames), which older programs refuse.
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
// frame, which bounds the encoder's memory (about 11 times the dictionary
// at preset 9) and the decoder's, and no smaller than liblzma's minimum.
func xzDictSize(n int) int { return max(n, 4096) }

// xzMagic starts every xz stream; a zstd frame starts with 28 b5 2f fd.
var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0}

// frameCodec tells the codec of a compressed frame from its first bytes.
// Locations do not carry the codec their pack's table records; the magic
// numbers of the two formats cannot be mistaken for each other, and a
// frame damaged there fails to decode as either.
func frameCodec(comp []byte) pack.Codec {
	if bytes.HasPrefix(comp, xzMagic) {
		return pack.CodecXZ
	}
	return pack.CodecZstd
}
