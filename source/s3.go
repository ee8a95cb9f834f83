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
	"github.com/nardedup/nardedup/chunkstore/backend/s3"
	"github.com/nardedup/nardedup/narfmt/storepath"
)

// s3Source reads a binary cache stored in an S3 bucket (as written by
// `nix copy --to s3://…`) through the S3 backend's client.
type s3Source struct {
	smallObjects
	b *s3.Backend
}

// NewS3 returns a Source reading the binary cache in the bucket and prefix
// of b. Narinfos are found with one shallow listing of the prefix, so the
// NARs below nar/ are not listed.
func NewS3(b *s3.Backend) Source {
	s := &s3Source{b: b}
	s.smallObjects = smallObjects{s}
	return s
}

// openS3 opens an s3://BUCKET/PREFIX?endpoint=… URL (see package s3 for
// its parameters and credentials).
func openS3(spec string) (Source, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := s3.Open(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	return NewS3(b), nil
}

func (s *s3Source) String() string { return s.b.String() }

func (s *s3Source) objectName(key string) string { return s.b.String() + key }

// List reports every <hash>.narinfo directly under the prefix, sorted.
func (s *s3Source) List(ctx context.Context, fn func(hash string) error) error {
	var hashes []string
	err := s.b.ListShallow(ctx, "", func(info backend.Info) error {
		if hash, ok := strings.CutSuffix(info.Key, ".narinfo"); ok && storepath.IsHash(hash) {
			hashes = append(hashes, hash)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	slices.Sort(hashes)
	for _, h := range hashes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(h); err != nil {
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
