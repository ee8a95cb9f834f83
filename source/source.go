package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nardedup/nardedup/narfmt/storepath"
)

// Source reads the objects of a Nix binary cache.
type Source interface {
	// CacheInfo returns the raw nix-cache-info text.
	CacheInfo(ctx context.Context) ([]byte, error)
	// List calls fn with the hash part (32 chars) of every narinfo in the
	// cache, sorted, on the calling goroutine. An error returned by fn stops
	// the listing and is returned unchanged.
	List(ctx context.Context, fn func(hash string) error) error
	// NarInfo returns the raw text of <hash>.narinfo, at most MaxNarInfoSize
	// bytes.
	NarInfo(ctx context.Context, hash string) ([]byte, error)
	// Open streams the file at url, a path relative to the cache root as in
	// a narinfo URL field. The caller closes the stream.
	Open(ctx context.Context, url string) (io.ReadCloser, error)
	String() string
}

// Dated is a Source that can tell when each of its narinfos was written,
// so that a follower can pass over what it read before: directories
// (the file's modification time) and S3 buckets (LastModified).
type Dated interface {
	Source
	// ListDated calls fn with the hash part of every narinfo, sorted, and
	// the time it was last written, on the calling goroutine. An error
	// returned by fn stops the listing and is returned unchanged.
	ListDated(ctx context.Context, fn func(hash string, written time.Time) error) error
}

var (
	// ErrNotFound is wrapped by CacheInfo, NarInfo and Open when the object
	// does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNoListing is wrapped by List when the source cannot enumerate its
	// narinfos (a plain HTTP binary cache). See WithHashes and ListFrom.
	ErrNoListing = errors.New("source cannot list narinfos")
	// ErrBadURL is wrapped by Open when a URL is not a clean relative path
	// inside the cache root.
	ErrBadURL = errors.New("URL not inside the cache")
	// ErrTooLarge is wrapped when a narinfo or nix-cache-info exceeds
	// MaxNarInfoSize.
	ErrTooLarge = errors.New("object too large")
)

// MaxNarInfoSize bounds the size of a narinfo and of nix-cache-info.
const MaxNarInfoSize = 1 << 20

func checkHash(h string) error {
	if !storepath.IsHash(h) {
		return fmt.Errorf("source: invalid store path hash %q", h)
	}
	return nil
}

// checkURL accepts only clean relative slash-separated paths without "."
// or ".." elements, backslashes or NUL bytes: what `nix copy` writes.
func checkURL(u string) error {
	if u == "" || strings.ContainsAny(u, "\\\x00") || !validPath(u) {
		return fmt.Errorf("source: %w: %q", ErrBadURL, u)
	}
	return nil
}

func validPath(p string) bool {
	for _, elem := range strings.Split(p, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return false
		}
	}
	return true
}

// Open returns the Source for spec: a directory path, a file:///abs/path
// URL (query parameters such as ?compression=xz are ignored), or an
// http:// or https:// URL of a binary cache. A directory must exist. A
// cache in an S3 bucket is not opened here: open the bucket and pass it to
// NewS3.
func Open(spec string) (Source, error) {
	switch {
	case spec == "":
		return nil, errors.New("source: empty cache location")
	case strings.HasPrefix(spec, "http://"), strings.HasPrefix(spec, "https://"):
		u, err := url.Parse(spec)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("source: %q has no host", spec)
		}
		return NewHTTP(u, nil), nil
	case strings.HasPrefix(spec, "file://"):
		u, err := url.Parse(spec)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		if (u.Host != "" && u.Host != "localhost") || !strings.HasPrefix(u.Path, "/") {
			return nil, fmt.Errorf("source: %q is not a file:///absolute/path URL", spec)
		}
		return openDir(u.Path)
	case strings.HasPrefix(spec, "s3://"):
		return nil, fmt.Errorf("source: %q: open the bucket and read it with NewS3", spec)
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("source: unsupported cache URL %q (want a directory, file://, http://, https:// or s3://)", spec)
	}
	return openDir(spec)
}

func openDir(dir string) (Source, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("source: %s is not a directory", dir)
	}
	return NewDir(dir), nil
}

// objectOpener is what each kind of Source provides to the code shared
// between kinds.
type objectOpener interface {
	// openObject opens the object at key, a path below the cache root
	// that the caller has checked, wrapping ErrNotFound when there is none.
	openObject(ctx context.Context, key string) (io.ReadCloser, error)
	// objectName names the object at key in errors.
	objectName(key string) string
}

// smallObjects gives a kind of Source its CacheInfo and NarInfo: the hash
// check, the size limit and the errors are the same for every kind, only
// opening an object differs.
type smallObjects struct {
	o objectOpener
}

func (s smallObjects) CacheInfo(ctx context.Context) ([]byte, error) {
	return s.read(ctx, "nix-cache-info")
}

func (s smallObjects) NarInfo(ctx context.Context, hash string) ([]byte, error) {
	if err := checkHash(hash); err != nil {
		return nil, err
	}
	return s.read(ctx, hash+".narinfo")
}

// read reads the object at key, failing with ErrTooLarge beyond
// MaxNarInfoSize bytes.
func (s smallObjects) read(ctx context.Context, key string) ([]byte, error) {
	r, err := s.o.openObject(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, MaxNarInfoSize+1))
	if err != nil {
		return nil, fmt.Errorf("source: reading %s: %w", s.o.objectName(key), err)
	}
	if len(b) > MaxNarInfoSize {
		return nil, fmt.Errorf("source: %s: %w (more than %d bytes)", s.o.objectName(key), ErrTooLarge, MaxNarInfoSize)
	}
	return b, nil
}
