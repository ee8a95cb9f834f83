package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/nardedup/nardedup/narfmt/storepath"
)

type dirSource struct {
	dir string
}

// NewDir returns a Source reading the binary cache in directory dir, as
// written by `nix copy --to file://DIR`. All file access goes through an
// os.Root, so symbolic links cannot lead outside dir.
func NewDir(dir string) Source { return &dirSource{dir: dir} }

func (d *dirSource) String() string { return d.dir }

func (d *dirSource) CacheInfo(ctx context.Context) ([]byte, error) {
	return d.readSmall(ctx, "nix-cache-info")
}

func (d *dirSource) NarInfo(ctx context.Context, hash string) ([]byte, error) {
	if err := checkHash(hash); err != nil {
		return nil, err
	}
	return d.readSmall(ctx, hash+".narinfo")
}

func (d *dirSource) readSmall(ctx context.Context, name string) ([]byte, error) {
	f, err := d.open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, MaxNarInfoSize, d.dir+"/"+name)
}

// List reads the cache directory and reports every <hash>.narinfo.
func (d *dirSource) List(ctx context.Context, fn func(hash string) error) error {
	entries, err := os.ReadDir(d.dir) // sorted by name
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	for _, e := range entries {
		hash, ok := strings.CutSuffix(e.Name(), ".narinfo")
		if !ok || !storepath.IsHash(hash) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(hash); err != nil {
			return err
		}
	}
	return nil
}

func (d *dirSource) Open(ctx context.Context, url string) (io.ReadCloser, error) {
	if err := checkURL(url); err != nil {
		return nil, err
	}
	return d.open(ctx, url)
}

// open opens the regular file name below the root. Escapes through
// symbolic links are refused by os.Root; non-regular files (FIFOs, devices,
// directories) are refused before opening so a FIFO cannot block.
func (d *dirSource) open(ctx context.Context, name string) (*os.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(d.dir)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer root.Close()
	fi, err := root.Stat(name)
	if err != nil {
		return nil, wrapNotExist(d.dir, name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("source: %s/%s: not a regular file", d.dir, name)
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, wrapNotExist(d.dir, name, err)
	}
	return f, nil
}

func wrapNotExist(dir, name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("source: %s/%s: %w: %w", dir, name, ErrNotFound, err)
	}
	return fmt.Errorf("source: %w", err)
}
