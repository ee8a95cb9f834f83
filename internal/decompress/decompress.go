package decompress

import (
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// ErrUnsupported is wrapped by NewReader for a Compression value it does
// not know.
var ErrUnsupported = errors.New("unsupported compression")

// NewReader returns the decompressed stream of r for a narinfo Compression
// value: "xz", "zstd", "bzip2", "none" or "" (none). xz goes through
// DefaultXZ. Truncated or corrupt input yields a read error, never a short
// stream that ends in io.EOF (except for "none", which has no framing).
// Reads fail once ctx is done. Close releases the decoder (for xz-exec it
// kills and reaps the xz process); it does not close r.
func NewReader(ctx context.Context, r io.Reader, compression string) (io.ReadCloser, error) {
	switch compression {
	case "", "none":
		return io.NopCloser(ctxReader{ctx, r}), nil
	case "xz":
		return DefaultXZ().NewReader(ctx, r)
	case "zstd":
		return newZstd(ctx, r)
	case "bzip2":
		return io.NopCloser(ctxReader{ctx, bzip2.NewReader(r)}), nil
	}
	return nil, fmt.Errorf("decompress: %w %q (want xz, zstd, bzip2 or none)", ErrUnsupported, compression)
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// zstdMaxWindow is the largest zstd window accepted: 128 MiB, the default
// limit of libzstd and so of what Nix itself can decompress.
const zstdMaxWindow = 128 << 20

var zstdPool sync.Pool // of *zstd.Decoder

type zstdReader struct {
	ctxReader
	dec *zstd.Decoder
	in  *tailReader
}

func newZstd(ctx context.Context, r io.Reader) (io.ReadCloser, error) {
	dec, _ := zstdPool.Get().(*zstd.Decoder)
	if dec == nil {
		var err error
		dec, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(zstdMaxWindow),
			zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, fmt.Errorf("decompress: zstd: %w", err)
		}
	}
	in := &tailReader{r: r}
	if err := dec.Reset(in); err != nil {
		zstdPool.Put(dec)
		return nil, fmt.Errorf("decompress: zstd: %w", err)
	}
	return &zstdReader{ctxReader{ctx, dec}, dec, in}, nil
}

func (z *zstdReader) Read(p []byte) (int, error) {
	if z.dec == nil {
		return 0, errors.New("decompress: zstd: read after Close")
	}
	n, err := z.ctxReader.Read(p)
	if err == io.EOF && z.in.n == 0 {
		err = errors.New("empty input")
	}
	if err != nil && err != io.EOF && z.ctx.Err() == nil {
		err = fmt.Errorf("decompress: zstd: %w", err)
	}
	return n, err
}

func (z *zstdReader) Close() error {
	if z.dec != nil {
		if z.dec.Reset(nil) == nil {
			zstdPool.Put(z.dec)
		}
		z.dec = nil
	}
	return nil
}
