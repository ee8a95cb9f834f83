package chunkstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/restic/chunker"
)

// FormatVersion is the repository format this package reads and writes.
const FormatVersion = 1

// ConfigKey is the backend key of the repository configuration.
const ConfigKey = "config"

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

// Config is the repository configuration, stored once at creation under
// ConfigKey and never changed.
type Config struct {
	Version   int           `json:"version"`
	ID        string        `json:"id"` // random, names the local index cache
	Chunker   ChunkerConfig `json:"chunker"`
	Encoder   string        `json:"encoder,omitempty"` // EncoderLibzstd, or EncoderKlauspost when empty
	ZstdLevel int           `json:"zstd_level"`        // of the encoder: klauspost's 1-4, libzstd's 1-22
	GroupSize int           `json:"group_size"`        // bytes of new chunks compressed as one frame
	PackSize  int           `json:"pack_size"`         // target pack size in bytes
	StoreDir  string        `json:"store_dir"`         // Nix store directory of the cached paths
	Strip     string        `json:"strip"`             // what pathstrip cuts (see narstore)
}

// DefaultConfig returns the settings of a new repository.
func DefaultConfig() Config {
	return Config{
		Version: FormatVersion,
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
		StoreDir:  "/nix/store",
		Strip:     "hash-name",
	}
}

// Validate checks that the configuration is one this package can use.
func (c *Config) Validate() error {
	switch {
	case c.Version != FormatVersion:
		return fmt.Errorf("chunkstore: repository format %d, this program reads %d", c.Version, FormatVersion)
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
	case c.ID == "":
		return errors.New("chunkstore: config has no repository id")
	}
	return nil
}

// Init stores cfg as the configuration of a new, empty repository on be. It
// fails if be already holds a configuration.
func Init(ctx context.Context, be backend.Backend, cfg Config) (Config, error) {
	if _, err := be.Stat(ctx, ConfigKey); err == nil {
		return cfg, fmt.Errorf("chunkstore: %s already holds a repository", be)
	} else if !errors.Is(err, backend.ErrNotExist) {
		return cfg, fmt.Errorf("chunkstore: init %s: %w", be, err)
	}
	if cfg.ID == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return cfg, err
		}
		cfg.ID = hex.EncodeToString(b[:])
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return cfg, err
	}
	data = append(data, '\n')
	if err := be.Put(ctx, ConfigKey, bytes.NewReader(data), int64(len(data))); err != nil {
		return cfg, fmt.Errorf("chunkstore: write config: %w", err)
	}
	return cfg, nil
}

// LoadConfig reads and validates the configuration of the repository on be.
// A repository without one yields an error wrapping backend.ErrNotExist.
func LoadConfig(ctx context.Context, be backend.Backend) (Config, error) {
	var cfg Config
	rc, err := be.Get(ctx, ConfigKey, 0, -1)
	if err != nil {
		return cfg, fmt.Errorf("chunkstore: read config of %s: %w", be, err)
	}
	defer rc.Close()
	dec := json.NewDecoder(io.LimitReader(rc, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("chunkstore: parse config of %s: %w", be, err)
	}
	return cfg, cfg.Validate()
}
