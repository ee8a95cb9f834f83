package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/nardedup/nardedup/narfmt/storepath"
)

type dirSource struct {
	smallObjects
	dir string
}

// NewDir returns a Source reading the binary cache in directory dir, as
// written by `nix copy --to file://DIR`. All file access goes through an
// os.Root, so symbolic links cannot lead outside dir.
func NewDir(dir string) Source {
	d := &dirSource{dir: dir}
	d.smallObjects = smallObjects{d}
	return d
}

func (d *dirSource) String() string { return d.dir }

func (d *dirSource) objectName(name string) string { return d.dir + "/" + name }

// List reads the cache directory and reports every <hash>.narinfo.
func (d *dirSource) List(ctx context.Context, fn func(hash string) error) error {
	return d.list(ctx, func(hash string, _ os.DirEntry) error { return fn(hash) })
}

// ListDated reports every <hash>.narinfo with the later of its
// modification and change times: a file copied with its modification
// time kept (cp -p, rsync -t) still has a change time of its arrival.
// A narinfo removed during the listing is passed over.
func (d *dirSource) ListDated(ctx context.Context, fn func(hash string, written time.Time) error) error {
	return d.list(ctx, func(hash string, e os.DirEntry) error {
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		return fn(hash, written(fi))
	})
}

func (d *dirSource) list(ctx context.Context, fn func(hash string, e os.DirEntry) error) error {
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
		if err := fn(hash, e); err != nil {
			return err
		}
	}
	return nil
}

func (d *dirSource) Open(ctx context.Context, url string) (io.ReadCloser, error) {
	if err := checkURL(url); err != nil {
		return nil, err
	}
	return d.openObject(ctx, url)
}

// openObject opens the regular file name below the root. Escapes through
// symbolic links are refused by os.Root; non-regular files (FIFOs, devices,
// directories) are refused before opening so a FIFO cannot block.
func (d *dirSource) openObject(ctx context.Context, name string) (io.ReadCloser, error) {
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
