package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
	"github.com/nardedup/nardedup/chunkstore/backend"
)

// partSize is the largest object stored with a single PUT and the part
// size of multipart uploads (minio-go's minimum).
const partSize = 16 << 20

// Put stores the object under key. A reader that is an io.Seeker is
// rewound for retries; any other reader gets one attempt. An object of
// unknown size (size < 0) is buffered up to 16 MiB to find out whether one
// PUT does.
func (b *Backend) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	obj, err := b.object(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return b.ctxErr(ctx, "put", key)
	}
	if size >= 0 {
		return b.putSized(ctx, key, obj, r, size)
	}
	buf, err := io.ReadAll(io.LimitReader(r, partSize+1))
	if err != nil {
		return backend.Permanent(fmt.Errorf("s3 put %s: reading the data: %w", b.where(key), err))
	}
	if len(buf) <= partSize {
		return b.putSized(ctx, key, obj, bytes.NewReader(buf), int64(len(buf)))
	}
	r = io.MultiReader(bytes.NewReader(buf), r)
	return b.retryN(ctx, "put", key, 0, func(ctx context.Context, w *watch) error {
		return b.putOnce(ctx, w, key, obj, r, -1)
	})
}

// putSized uploads exactly size bytes of r, retrying if r can be rewound.
func (b *Backend) putSized(ctx context.Context, key, obj string, r io.Reader, size int64) error {
	seeker, ok := r.(io.Seeker)
	retries := 0
	var start int64
	if ok {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err == nil {
			retries = b.retries
		}
	}
	first := true
	return b.retryN(ctx, "put", key, retries, func(ctx context.Context, w *watch) error {
		if !first {
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return backend.Permanent(fmt.Errorf("rewinding the data: %w", err))
			}
		}
		first = false
		return b.putOnce(ctx, w, key, obj, r, size)
	})
}

// putOnce is one upload: a single PUT, or a multipart upload that minio-go
// aborts on failure.
func (b *Backend) putOnce(ctx context.Context, w *watch, key, obj string, r io.Reader, size int64) error {
	sr := &sizedReader{r: r, left: size, w: w}
	if size == 0 {
		sr.checkEnd()
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: partSize}
	// minio-go signs an empty body for streaming without sending the
	// final chunk, which leaves servers waiting for it: send it unsigned.
	opts.DisableContentSha256 = size == 0
	_, err := b.client.PutObject(ctx, b.bucket, obj, sr, size, opts)
	if sr.err != nil {
		return sr.err
	}
	return err
}

// sizedReader passes r through, touching the watch, and fails (instead of
// yielding the last bytes) when r holds other than left bytes, so that the
// upload breaks before it completes. left < 0 means any size.
type sizedReader struct {
	r    io.Reader
	left int64
	w    *watch
	err  error
	eof  bool
}

func (s *sizedReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.left == 0 || s.eof {
		return 0, io.EOF
	}
	if s.left > 0 && int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.w.touch()
	if cerr := s.w.ctx.Err(); cerr != nil {
		// Withhold the data: a cancelled upload must not complete.
		s.err = context.Cause(s.w.ctx)
		return 0, s.err
	}
	if s.left > 0 {
		s.left -= int64(n)
	}
	switch {
	case err == io.EOF && s.left > 0:
		s.err = fmt.Errorf("%w: data ended %d bytes short", backend.ErrSizeMismatch, s.left)
	case err == io.EOF:
		s.eof = true
	case err != nil:
		s.err = backend.Permanent(fmt.Errorf("reading the data: %w", err))
	case s.left == 0:
		s.checkEnd()
	}
	if s.err != nil {
		return 0, s.err
	}
	return n, nil
}

// checkEnd reads once more after the announced size: more data is a size
// mismatch, and so is a read error.
func (s *sizedReader) checkEnd() {
	var one [1]byte
	for {
		n, err := s.r.Read(one[:])
		switch {
		case n > 0:
			s.err = fmt.Errorf("%w: data longer than announced", backend.ErrSizeMismatch)
		case errors.Is(err, io.EOF):
			s.eof = true
		case err != nil:
			s.err = backend.Permanent(fmt.Errorf("reading the data: %w", err))
		default:
			continue // (0, nil): read again
		}
		return
	}
}
