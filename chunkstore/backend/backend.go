// Package backend defines the storage contract under a nardedup repository:
// a flat namespace of immutable objects addressed by slash-separated keys.
//
// Everything nardedup keeps (config, packs, index objects, manifests,
// narinfos) is an object behind this interface, so the repository works the
// same on a local directory, in memory or on S3-compatible object storage.
// Nothing above this package may assume a local file system.
//
// # Keys
//
// A key is a non-empty, slash-separated relative path such as
// "packs/3f/3fa0…". Components are non-empty and never "." or "..", keys
// never start or end with "/", and contain no NUL or backslash. ValidKey
// checks this; every backend rejects other keys with an error wrapping
// ErrInvalidKey.
package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrNotExist is returned (wrapped) by Get, Stat and Delete for a key that
// holds no object. Check it with errors.Is.
var ErrNotExist = errors.New("backend: object does not exist")

// ErrInvalidKey is returned (wrapped) for a key that ValidKey rejects.
var ErrInvalidKey = errors.New("backend: invalid key")

// Info describes one stored object.
type Info struct {
	Key  string
	Size int64
	// ModTime is when the object was stored, as the backend records it
	// (file modification time, S3 LastModified). It is zero where the
	// backend cannot tell, as the read cache answering from its own copy.
	ModTime time.Time
}

// Backend stores immutable objects.
//
// Semantics every implementation guarantees:
//   - Put is atomic: a concurrent or later reader sees either no object or
//     the whole object, never a prefix. Put reads r to EOF and fails if it
//     yields a number of bytes other than size (when size >= 0). Putting an
//     existing key replaces it atomically (nardedup only does so with
//     identical content). When Put returns nil the object is durable.
//   - Read-after-write: an object is visible to Get, Stat and List as soon as
//     its Put returned nil.
//   - Get returns length bytes starting at offset; length < 0 means up to the
//     end of the object. A range reaching past the end is cut at the end. The
//     caller closes the returned reader.
//   - List calls fn, on the calling goroutine, once for every object whose key
//     starts with prefix, in no particular order. An error returned by fn
//     stops the listing and is returned by List.
//   - Delete of a missing key returns an error wrapping ErrNotExist.
//   - Every method honours ctx cancellation.
type Backend interface {
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (Info, error)
	List(ctx context.Context, prefix string, fn func(Info) error) error
	Delete(ctx context.Context, key string) error
	// Close releases the backend's resources.
	Close() error
	// String names the backend for logs and errors, e.g. "local:/srv/repo".
	String() string
}

// ValidKey reports whether key is a valid object key (see the package doc).
// It returns nil for a valid key and otherwise an error wrapping
// ErrInvalidKey that names the key and the rule it breaks.
func ValidKey(key string) error {
	reason := ""
	switch {
	case key == "":
		reason = "empty"
	case strings.HasPrefix(key, "/"):
		reason = "starts with /"
	case strings.HasSuffix(key, "/"):
		reason = "ends with /"
	case strings.ContainsRune(key, 0):
		reason = "contains NUL"
	case strings.ContainsRune(key, '\\'):
		reason = "contains backslash"
	default:
		for c := range strings.SplitSeq(key, "/") {
			switch c {
			case "":
				reason = "empty component"
			case ".", "..":
				reason = fmt.Sprintf("component %q", c)
			}
			if reason != "" {
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, reason)
}
