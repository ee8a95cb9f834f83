package chunkstore

import (
	"fmt"
	"math/bits"

	"github.com/klauspost/compress/zstd"

	"github.com/nardedup/nardedup/chunkstore/pack"
)

// Encoders of Config.Encoder: which zstd implementation compresses new
// frames, and so what Config.ZstdLevel means. Readers do not care: both
// write standard zstd frames.
const (
	// EncoderKlauspost is github.com/klauspost/compress/zstd, levels 1
	// (fastest) to 4 (best, about libzstd's 11). Repositories made before
	// the encoder was recorded use it (an empty Config.Encoder).
	EncoderKlauspost = "klauspost"
	// EncoderLibzstd is libzstd, levels 1 to 22, linked in with cgo. A
	// program built without cgo writes such a repository with
	// klauspost/compress at its nearest level.
	EncoderLibzstd = "libzstd"
)

// frameEncoder compresses one group of chunks into one zstd frame,
// appended to dst (nil: a buffer of the right size is allocated).
type frameEncoder interface {
	encode(dst, src []byte) ([]byte, error)
	close()
}

// codecEncoder is a frameEncoder whose frames are not all of one codec: it
// says which each is.
type codecEncoder interface {
	frameEncoder
	encodeCodec(dst, src []byte) ([]byte, pack.Codec, error)
}

// klauspostEncoder is safe for concurrent use.
type klauspostEncoder struct{ enc *zstd.Encoder }

func (e klauspostEncoder) encode(dst, src []byte) ([]byte, error) {
	if dst == nil {
		dst = make([]byte, 0, len(src)/2) // EncodeAll would grow it by appending
	}
	return e.enc.EncodeAll(src, dst), nil
}

func (e klauspostEncoder) close() { e.enc.Close() }

func newKlauspostEncoder(level zstd.EncoderLevel, windowLog int) (frameEncoder, error) {
	window := min(max(1<<windowLog, zstd.MinWindowSize), zstd.MaxWindowSize)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level),
		zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(window))
	if err != nil {
		return nil, fmt.Errorf("chunkstore: zstd encoder: %w", err)
	}
	return klauspostEncoder{enc}, nil
}

// newFrameEncoder returns an encoder of frames at level of encoder (an
// empty encoder is EncoderKlauspost; levels above MaxKlauspostLevel are
// libzstd's whatever encoder says), whose window is at most 1<<windowLog
// bytes; ldm turns on libzstd's long distance matching. Without libzstd,
// fallback allows klauspost's nearest level instead of an error.
func newFrameEncoder(encoder string, level, windowLog int, ldm, fallback bool) (frameEncoder, error) {
	if level <= MaxKlauspostLevel && encoder != EncoderLibzstd {
		return newKlauspostEncoder(zstd.EncoderLevel(level), windowLog)
	}
	if !HasLibzstd && fallback {
		return newKlauspostEncoder(zstd.EncoderLevelFromZstd(level), windowLog)
	}
	return newLibzstdEncoder(level, windowLog, ldm)
}

// frameWindowLog is the window log that lets a frame of up to groupSize
// bytes refer to any of its bytes.
func frameWindowLog(groupSize int) int {
	return min(max(bits.Len(uint(groupSize-1)), 10), MaxWindowLog)
}

// reserve returns dst with room for n more bytes after its length.
func reserve(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	return dst
}
