package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/nardedup/nardedup/chunkstore/backend"
)

// Get returns a reader of length bytes of key from offset (length < 0: to
// the end). It is one ranged GET; length 0 is a HEAD.
func (b *Backend) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	obj, err := b.object(key)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, backend.Permanent(fmt.Errorf("s3 get %s: negative offset %d", b.where(key), offset))
	}
	if err := ctx.Err(); err != nil {
		return nil, b.ctxErr(ctx, "get", key)
	}
	if length == 0 {
		if _, err := b.Stat(ctx, key); err != nil {
			return nil, err
		}
		return http.NoBody, nil
	}
	end := int64(-1) // inclusive; -1: to the end
	if length > 0 && offset <= math.MaxInt64-length {
		end = offset + length - 1
	}
	r := &objectReader{b: b, ctx: ctx, key: key, obj: obj, off: offset, end: end}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// objectReader streams a range of an object and resumes it with a new
// ranged GET, pinned to the first response's ETag, when the body breaks
// with a transient error.
type objectReader struct {
	b        *Backend
	ctx      context.Context
	key, obj string
	off, end int64 // next byte to read, last byte wanted (-1: the end)
	etag     string
	body     io.ReadCloser
	w        *watch
	resumes  int
}

// open issues the GET for [off, end]. A range starting at or past the end
// of the object (HTTP 416) yields an empty body.
func (r *objectReader) open() error {
	return r.b.retry(r.ctx, "get", r.key, func(ctx context.Context, w *watch) error {
		var opts minio.GetObjectOptions
		switch {
		case r.end >= 0:
			opts.Set("Range", fmt.Sprintf("bytes=%d-%d", r.off, r.end))
		case r.off > 0:
			opts.Set("Range", fmt.Sprintf("bytes=%d-", r.off))
		}
		if r.etag != "" {
			if err := opts.SetMatchETag(r.etag); err != nil {
				return backend.Permanent(err)
			}
		}
		body, info, _, err := r.b.core.GetObject(ctx, r.b.bucket, r.obj, opts)
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			body, err = http.NoBody, nil
		}
		if err != nil {
			return err
		}
		if r.etag == "" {
			r.etag = info.ETag
		}
		r.body, r.w = body, w
		w.kept = true
		return nil
	})
}

func (r *objectReader) Read(p []byte) (int, error) {
	if r.body == nil {
		return 0, fmt.Errorf("s3 get %s: read after close", r.b.where(r.key))
	}
	n, err := r.body.Read(p)
	if n > 0 {
		r.off += int64(n)
		r.resumes = 0
		r.w.touch()
	}
	if err == nil || errors.Is(err, io.EOF) {
		return n, err
	}
	if r.end >= 0 && r.off > r.end {
		return n, io.EOF // all wanted bytes arrived
	}
	err = r.b.classify(r.ctx, r.w, "get", r.key, err)
	if backend.IsPermanent(err) || r.resumes >= r.b.retries {
		return n, err
	}
	r.resumes++
	r.release()
	if oerr := r.open(); oerr != nil {
		return n, fmt.Errorf("%w (resuming after: %v)", oerr, err)
	}
	return n, nil
}

// release closes the current body and ends its watch.
func (r *objectReader) release() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	if r.w != nil {
		r.w.stop()
		r.w = nil
	}
}

// Close ends the transfer.
func (r *objectReader) Close() error {
	r.release()
	return nil
}

// Stat returns the size of key (a HEAD request).
func (b *Backend) Stat(ctx context.Context, key string) (backend.Info, error) {
	obj, err := b.object(key)
	if err != nil {
		return backend.Info{}, err
	}
	var info minio.ObjectInfo
	err = b.retry(ctx, "stat", key, func(ctx context.Context, w *watch) error {
		var serr error
		info, serr = b.client.StatObject(ctx, b.bucket, obj, minio.StatObjectOptions{})
		return serr
	})
	if err != nil {
		return backend.Info{}, err
	}
	return backend.Info{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
}

// List reports every object under prefix, listing recursively in pages of
// up to 1000 keys. A listing that breaks with a transient error resumes
// after the last key seen. Objects whose names are not valid keys (made by
// other tools) are skipped.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	return b.list(ctx, prefix, true, fn)
}

// ListShallow is List without descending: it reports the objects whose
// keys start with prefix and have no "/" after it, such as the narinfos at
// the top of a binary cache, without listing what lies below (nar/…).
func (b *Backend) ListShallow(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	return b.list(ctx, prefix, false, fn)
}

func (b *Backend) list(ctx context.Context, prefix string, recursive bool, fn func(backend.Info) error) error {
	if err := ctx.Err(); err != nil {
		return b.ctxErr(ctx, "list", prefix)
	}
	after := ""
	var fnErr error
	err := b.retry(ctx, "list", prefix, func(ctx context.Context, w *watch) error {
		opts := minio.ListObjectsOptions{Prefix: b.prefix + prefix, Recursive: recursive, StartAfter: after}
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for info := range b.client.ListObjects(lctx, b.bucket, opts) {
			w.touch()
			if info.Err != nil {
				return info.Err
			}
			after = info.Key
			key, ok := strings.CutPrefix(info.Key, b.prefix)
			if !ok || backend.ValidKey(key) != nil {
				continue
			}
			if fnErr = fn(backend.Info{Key: key, Size: info.Size, ModTime: info.LastModified}); fnErr != nil {
				return nil
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// Delete removes key. It checks with a HEAD first, because S3 reports
// success for a missing key.
func (b *Backend) Delete(ctx context.Context, key string) error {
	obj, err := b.object(key)
	if err != nil {
		return err
	}
	if _, err := b.Stat(ctx, key); err != nil {
		return err
	}
	return b.retry(ctx, "delete", key, func(ctx context.Context, w *watch) error {
		return b.client.RemoveObject(ctx, b.bucket, obj, minio.RemoveObjectOptions{})
	})
}
