package repo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/nardedup/nardedup/chunkstore"
	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/narstore"
	"github.com/nardedup/nardedup/repo/layout"
)

// FormatVersion is the repository format this package writes. Format 2
// says that every manifest carries its chunks' locations, so that a
// server needs no index. This package writes such manifests (version 2)
// into a repository of format 1 too: it reads both versions; Upgrade
// rewrites the manifests of format 1 and moves the repository to 2.
const FormatVersion = 2

// MinFormatVersion is the oldest repository format this package reads.
const MinFormatVersion = 1

// Config is the repository configuration, stored at creation as the
// config object; only Upgrade changes it, moving its Version. Its JSON is one flat object: the
// version, the id, then the chunk store's and the NAR store's fields.
type Config struct {
	Version int
	ID      string // random, names the local index cache
	Chunks  chunkstore.Config
	NARs    narstore.Config
}

// DefaultConfig returns the settings of a new repository.
func DefaultConfig() Config {
	return Config{Version: FormatVersion, Chunks: chunkstore.DefaultConfig(), NARs: narstore.DefaultConfig()}
}

// Validate checks that the configuration is one this program can use.
func (c *Config) Validate() error {
	switch {
	case c.Version < MinFormatVersion || c.Version > FormatVersion:
		return fmt.Errorf("repo: repository format %d, this program reads %d to %d", c.Version, MinFormatVersion, FormatVersion)
	case c.ID == "":
		return errors.New("repo: config has no repository id")
	}
	if err := c.Chunks.Validate(); err != nil {
		return err
	}
	return c.NARs.Validate()
}

// flatConfig is Config as it is stored.
type flatConfig struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	chunks
	nars
}

type (
	chunks chunkstore.Config
	nars   narstore.Config
)

// MarshalJSON writes the configuration as one flat object.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(flatConfig{c.Version, c.ID, chunks(c.Chunks), nars(c.NARs)})
}

// UnmarshalJSON reads the flat object MarshalJSON writes, refusing fields
// it does not know.
func (c *Config) UnmarshalJSON(b []byte) error {
	var f flatConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return err
	}
	*c = Config{Version: f.Version, ID: f.ID, Chunks: chunkstore.Config(f.chunks), NARs: narstore.Config(f.nars)}
	return nil
}

var configKey = layout.Key(layout.Config, "")

// Create stores cfg as the configuration of a new, empty repository on be
// (with a new random id unless cfg has one) and returns it as stored. It
// fails if be already holds a repository.
//
// The new repository is marked NamesComplete: every writer of this
// release records the names object of each NAR it stores. The marker is
// written before the config, so that no repository of this release is
// ever seen without it.
func Create(ctx context.Context, be backend.Backend, cfg Config) (Config, error) {
	if _, err := be.Stat(ctx, configKey); err == nil {
		return cfg, fmt.Errorf("repo: %s already holds a repository", be)
	} else if !errors.Is(err, backend.ErrNotExist) {
		return cfg, fmt.Errorf("repo: init %s: %w", be, err)
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
	if err := markNamesComplete(ctx, be); err != nil {
		return cfg, err
	}
	return cfg, writeConfig(ctx, be, cfg)
}

// writeConfig stores cfg as the config object.
func writeConfig(ctx context.Context, be backend.Backend, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if err := be.Put(ctx, configKey, bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("repo: write config: %w", err)
	}
	return nil
}

// LoadConfig reads and validates the configuration of the repository on be.
// It returns an error wrapping ErrNoRepository when be holds none.
func LoadConfig(ctx context.Context, be backend.Backend) (Config, error) {
	var cfg Config
	rc, err := be.Get(ctx, configKey, 0, -1)
	if errors.Is(err, backend.ErrNotExist) {
		return cfg, fmt.Errorf("%s %w", be, ErrNoRepository)
	}
	if err != nil {
		return cfg, fmt.Errorf("repo: read config of %s: %w", be, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<16))
	if err != nil {
		return cfg, fmt.Errorf("repo: read config of %s: %w", be, err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("repo: parse config of %s: %w", be, err)
	}
	return cfg, cfg.Validate()
}

// EnableXZFrames allows the repository on be to hold packs of xz frames
// (chunkstore.Config.XZFrames), and with gzip those of xz frames whose gzip
// streams are expanded (Config.XZGzipFrames), so that gc can recompress
// cold data into them. Programs older than those frames then refuse to
// open the repository, rather than take their packs for damaged ones. It
// returns whether the configuration changed; a repository that allows them
// already is left as it is.
func EnableXZFrames(ctx context.Context, be backend.Backend, gzip bool) (bool, error) {
	cfg, err := LoadConfig(ctx, be)
	if err != nil {
		return false, err
	}
	if cfg.Chunks.XZFrames && (cfg.Chunks.XZGzipFrames || !gzip) {
		return false, nil
	}
	cfg.Chunks.XZFrames = true
	cfg.Chunks.XZGzipFrames = cfg.Chunks.XZGzipFrames || gzip
	return true, writeConfig(ctx, be, cfg)
}
