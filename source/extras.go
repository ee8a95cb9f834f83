package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/nardedup/nardedup/chunkstore/backend"
)

// Extras is implemented by the sources that can list the build logs
// (log/<drv>) and realisations (realisations/<id>.doi) they hold: a
// directory and an S3 bucket. A plain HTTP cache cannot list them. The
// objects themselves are read with Open ("log/<drv>",
// "realisations/<id>.doi").
type Extras interface {
	// ListLogs calls fn, on the calling goroutine, with the name (the
	// derivation's base name) of every object directly under log/,
	// sorted. A cache without build logs lists none.
	ListLogs(ctx context.Context, fn func(drv string) error) error
	// ListRealisations does the same with the ids of the objects
	// realisations/<id>.doi.
	ListRealisations(ctx context.Context, fn func(id string) error) error
}

var (
	_ Extras = (*dirSource)(nil)
	_ Extras = (*s3Source)(nil)
)

// Directories of a binary cache that hold build logs and realisations.
const (
	logDir         = "log"
	realisationDir = "realisations"
	realisationExt = ".doi"
)

func (d *dirSource) ListLogs(ctx context.Context, fn func(string) error) error {
	return d.listDir(ctx, logDir, "", fn)
}

func (d *dirSource) ListRealisations(ctx context.Context, fn func(string) error) error {
	return d.listDir(ctx, realisationDir, realisationExt, fn)
}

// listDir calls fn with the names, less ext, of the regular files in
// directory sub of the cache whose names end in ext, sorted. A missing
// directory holds none.
func (d *dirSource) listDir(ctx context.Context, sub, ext string, fn func(string) error) error {
	root, err := os.OpenRoot(d.dir)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer root.Close()
	f, err := root.Open(sub)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("source: %s/%s: %w", d.dir, sub, err)
	}
	var names []string
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ext); ok && e.Type().IsRegular() && !strings.HasPrefix(name, ".") {
			names = append(names, name)
		}
	}
	return each(ctx, names, fn)
}

func (s *s3Source) ListLogs(ctx context.Context, fn func(string) error) error {
	return s.listPrefix(ctx, logDir, "", fn)
}

func (s *s3Source) ListRealisations(ctx context.Context, fn func(string) error) error {
	return s.listPrefix(ctx, realisationDir, realisationExt, fn)
}

// listPrefix is listDir for a bucket.
func (s *s3Source) listPrefix(ctx context.Context, sub, ext string, fn func(string) error) error {
	var names []string
	err := s.b.ListShallow(ctx, sub+"/", func(info backend.Info) error {
		name, ok := strings.CutPrefix(info.Key, sub+"/")
		if name, ok2 := strings.CutSuffix(name, ext); ok && ok2 && name != "" {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	return each(ctx, names, fn)
}

// each calls fn with every name, sorted, until ctx ends or fn fails.
func each(ctx context.Context, names []string, fn func(string) error) error {
	slices.Sort(names)
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}
