package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nardedup/nardedup/chunkstore/backend"
	"github.com/nardedup/nardedup/narfmt/storepath"
)

// A Bucket holds a binary cache as `nix copy --to s3://…` writes it, with
// keys relative to the cache root. The *Backend of package
// chunkstore/backend/s3, opened on the bucket and prefix of the cache, is
// one.
type Bucket interface {
	// Get streams the object at key from offset, length bytes or to the
	// end if length < 0; a missing object wraps backend.ErrNotExist.
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// ListShallow calls fn for the objects whose keys start with prefix
	// and have no "/" after it.
	ListShallow(ctx context.Context, prefix string, fn func(backend.Info) error) error
	// String names the bucket and prefix; object names in errors are
	// String() + key.
	String() string
}

// s3Source reads a binary cache stored in an S3 bucket.
type s3Source struct {
	smallObjects
	b Bucket
}

// NewS3 returns a Source reading the binary cache in b, a bucket the
// caller has opened. Narinfos are found with one shallow listing of the
// cache root, so the NARs below nar/ are not listed.
func NewS3(b Bucket) Source {
	s := &s3Source{b: b}
	s.smallObjects = smallObjects{s}
	return s
}

func (s *s3Source) String() string { return s.b.String() }

func (s *s3Source) objectName(key string) string { return s.b.String() + key }

// List reports every <hash>.narinfo directly under the prefix, sorted.
func (s *s3Source) List(ctx context.Context, fn func(hash string) error) error {
	return s.ListDated(ctx, func(hash string, _ time.Time) error { return fn(hash) })
}

// ListDated reports every <hash>.narinfo directly under the prefix,
// sorted, with its LastModified.
func (s *s3Source) ListDated(ctx context.Context, fn func(hash string, written time.Time) error) error {
	var found []backend.Info
	err := s.b.ListShallow(ctx, "", func(info backend.Info) error {
		if hash, ok := strings.CutSuffix(info.Key, ".narinfo"); ok && storepath.IsHash(hash) {
			found = append(found, backend.Info{Key: hash, ModTime: info.ModTime})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	slices.SortFunc(found, func(a, b backend.Info) int { return strings.Compare(a.Key, b.Key) })
	for _, f := range found {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(f.Key, f.ModTime); err != nil {
			return err
		}
	}
	return nil
}

func (s *s3Source) Open(ctx context.Context, url string) (io.ReadCloser, error) {
	if err := checkURL(url); err != nil {
		return nil, err
	}
	return s.openObject(ctx, url)
}

// openObject streams the object key, mapping a missing object to
// ErrNotFound.
func (s *s3Source) openObject(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.b.Get(ctx, key, 0, -1)
	if errors.Is(err, backend.ErrNotExist) {
		return nil, fmt.Errorf("source: %w: %w", ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	return rc, nil
}
