package chunkstore

import (
	"fmt"

	"github.com/restic/chunker"
)

// DefaultPolynomial is the Rabin polynomial of new repositories. It is fixed
// (not random per repository) so that two repositories made with the same
// settings cut the same data into the same chunks.
const DefaultPolynomial = 0x2b5297a1898ad1

// ChunkerConfig holds the content-defined chunking parameters.
type ChunkerConfig struct {
	Polynomial uint64 `json:"polynomial"`
	MinSize    uint   `json:"min_size"`
	AvgBits    int    `json:"avg_bits"` // average chunk size is 1<<AvgBits
	MaxSize    uint   `json:"max_size"`
}

// Config is the chunk store's part of the repository configuration (see
// package repo), fixed when the repository is created.
type Config struct {
	Chunker   ChunkerConfig `json:"chunker"`
	Encoder   string        `json:"encoder,omitempty"` // EncoderLibzstd, or EncoderKlauspost when empty
	ZstdLevel int           `json:"zstd_level"`        // of the encoder: klauspost's 1-4, libzstd's 1-22
	GroupSize int           `json:"group_size"`        // bytes of new chunks compressed as one frame
	PackSize  int           `json:"pack_size"`         // target pack size in bytes
	// XZFrames allows packs holding xz frames (CopyOptions.Codec), which
	// programs older than the codec cannot read: they refuse a
	// configuration with this field, and so the repository, instead of
	// taking its packs for damaged ones. EnableXZFrames in package repo
	// sets it.
	XZFrames bool `json:"xz_frames,omitempty"`
	// XZGzipFrames allows packs holding xz frames whose gzip streams are
	// expanded (CopyOptions.XZGzip), which programs older than that codec
	// cannot read; as XZFrames, it makes them refuse the repository.
	XZGzipFrames bool `json:"xz_gzip_frames,omitempty"`
}

// DefaultConfig returns the chunk store settings of a new repository.
func DefaultConfig() Config {
	return Config{
		Chunker: ChunkerConfig{
			Polynomial: DefaultPolynomial,
			MinSize:    16 << 10,
			AvgBits:    16,
			MaxSize:    256 << 10,
		},
		Encoder:   EncoderLibzstd,
		ZstdLevel: 4,
		GroupSize: 4 << 20,
		PackSize:  32 << 20,
	}
}

// Validate checks that the configuration is one this package can use.
func (c *Config) Validate() error {
	switch {
	case !chunker.Pol(c.Chunker.Polynomial).Irreducible():
		return fmt.Errorf("chunkstore: chunker polynomial %#x is not irreducible", c.Chunker.Polynomial)
	case c.Chunker.AvgBits < 10 || c.Chunker.AvgBits > 24:
		return fmt.Errorf("chunkstore: chunker avg_bits %d out of range 10..24", c.Chunker.AvgBits)
	case c.Chunker.MinSize < 64 || c.Chunker.MinSize > c.Chunker.MaxSize || c.Chunker.MaxSize > MaxChunkSize:
		return fmt.Errorf("chunkstore: chunker sizes min %d max %d invalid", c.Chunker.MinSize, c.Chunker.MaxSize)
	case c.Encoder != "" && c.Encoder != EncoderKlauspost && c.Encoder != EncoderLibzstd:
		return fmt.Errorf("chunkstore: unknown encoder %q (want %s or %s)", c.Encoder, EncoderLibzstd, EncoderKlauspost)
	case c.Encoder == EncoderLibzstd && (c.ZstdLevel < 1 || c.ZstdLevel > MaxZstdLevel):
		return fmt.Errorf("chunkstore: zstd_level %d out of range 1..%d for %s", c.ZstdLevel, MaxZstdLevel, c.Encoder)
	case c.Encoder != EncoderLibzstd && (c.ZstdLevel < 1 || c.ZstdLevel > MaxKlauspostLevel):
		return fmt.Errorf("chunkstore: zstd_level %d out of range 1..%d for %s", c.ZstdLevel, MaxKlauspostLevel, EncoderKlauspost)
	case c.GroupSize < int(c.Chunker.MaxSize) || c.GroupSize > MaxFrameSize:
		return fmt.Errorf("chunkstore: group_size %d out of range %d..%d", c.GroupSize, c.Chunker.MaxSize, MaxFrameSize)
	case c.PackSize < c.GroupSize || c.PackSize > 1<<31:
		return fmt.Errorf("chunkstore: pack_size %d out of range", c.PackSize)
	}
	return nil
}
