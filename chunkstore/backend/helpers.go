package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"syscall"
)

// ErrSizeMismatch is returned (wrapped) by Put when the reader yields a
// number of bytes other than the announced size.
var ErrSizeMismatch = errors.New("backend: size mismatch")

// ReadAll returns the whole object stored under key. It closes the reader it
// opens.
func ReadAll(ctx context.Context, b Backend, key string) ([]byte, error) {
	rc, err := b.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	cerr := rc.Close()
	if err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", b, key, err)
	}
	return data, nil
}

// PutBytes stores data under key with its exact size.
func PutBytes(ctx context.Context, b Backend, key string, data []byte) error {
	return b.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
}

// permanentError marks an error that retrying will not fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying the same call will not fix, so
// that IsPermanent reports true for it and for any error wrapping it.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether retrying the call that returned err is
// pointless: the key is invalid or missing, the size did not match, the
// caller's context is done (context.Canceled, context.DeadlineExceeded),
// the storage is full, read-only or denies access, or a backend marked the
// error with Permanent. Transient faults (connection resets, throttling, a
// backend's own per-request timeout) are not permanent, so a backend must
// not report its internal timeouts as context.DeadlineExceeded.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var pe *permanentError
	for _, target := range []error{
		ErrInvalidKey, ErrNotExist, ErrSizeMismatch,
		context.Canceled, context.DeadlineExceeded,
		syscall.ENOSPC, syscall.EROFS, fs.ErrPermission,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return errors.As(err, &pe)
}

// ContextReader returns a reader of r whose reads fail with ctx's error
// once ctx is done, so that a long copy honours cancellation.
func ContextReader(ctx context.Context, r io.Reader) io.Reader {
	return &ctxReader{ctx: ctx, r: r}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Forgetter is a Backend that keeps copies of objects (a cache) and can
// drop its copies of one.
type Forgetter interface {
	Forget(key string)
}

// Forget drops b's cached copies of key, if b keeps any, so that the next
// Get reads the stored object. It looks through wrappers that have an
// Unwrap method returning the Backend they wrap.
func Forget(b Backend, key string) {
	for b != nil {
		if f, ok := b.(Forgetter); ok {
			f.Forget(key)
		}
		u, ok := b.(interface{ Unwrap() Backend })
		if !ok {
			return
		}
		b = u.Unwrap()
	}
}
