package narstore

import (
	"fmt"

	"github.com/nardedup/nardedup/pathstrip"
)

// Config is the NAR store's part of the repository configuration (see
// package repo), fixed when the repository is created.
type Config struct {
	StoreDir string `json:"store_dir"` // Nix store directory of the cached paths
	Strip    string `json:"strip"`     // what pathstrip cuts: "hash" or "hash-name"
}

// DefaultConfig returns the NAR store settings of a new repository.
func DefaultConfig() Config {
	return Config{StoreDir: "/nix/store", Strip: "hash-name"}
}

// Validate checks that the configuration is one this package can use.
func (c Config) Validate() error {
	_, err := c.StripOptions()
	return err
}

// StripOptions returns the pathstrip options the configuration names.
func (c Config) StripOptions() (pathstrip.Options, error) {
	opt := pathstrip.Options{StoreDir: c.StoreDir}
	switch c.Strip {
	case "hash":
		opt.Mode = pathstrip.CutHash
	case "hash-name":
		opt.Mode = pathstrip.CutHashName
	default:
		return opt, fmt.Errorf("narstore: unknown strip mode %q in repository config", c.Strip)
	}
	return opt, nil
}
