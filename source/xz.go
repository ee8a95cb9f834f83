package source

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sync"

	"github.com/ulikunitz/xz"
)

// An XZDecoder is one implementation of xz decompression.
type XZDecoder struct {
	// Name is "xz-exec" (the xz program) or "xz-go" (pure Go).
	Name string
	// Path is the xz program run by "xz-exec".
	Path string
}

// ExecXZ returns the decoder that runs the xz program at path (`xz -dc`).
func ExecXZ(path string) XZDecoder { return XZDecoder{Name: "xz-exec", Path: path} }

// GoXZ returns the pure Go decoder (github.com/ulikunitz/xz).
func GoXZ() XZDecoder { return XZDecoder{Name: "xz-go"} }

// DefaultXZ returns the decoder used by Decompress for "xz": the xz program
// when one is found on PATH (about 2.5 times faster, see the package
// documentation), else the pure Go decoder. The choice is made once.
var DefaultXZ = sync.OnceValue(func() XZDecoder {
	if path, err := exec.LookPath("xz"); err == nil {
		return ExecXZ(path)
	}
	return GoXZ()
})

// String describes the decoder, e.g. "xz-exec (/usr/bin/xz)".
func (d XZDecoder) String() string {
	if d.Name == "xz-exec" {
		return fmt.Sprintf("xz-exec (%s)", d.Path)
	}
	return d.Name + " (github.com/ulikunitz/xz)"
}

// Decompress returns the decompressed stream of the xz data in r, with the
// semantics of the package-level Decompress.
func (d XZDecoder) Decompress(ctx context.Context, r io.Reader) (io.ReadCloser, error) {
	if d.Name == "xz-exec" {
		return startXZ(ctx, d.Path, r)
	}
	// ulikunitz/xz reads byte by byte: buffer its input.
	zr, err := xz.NewReader(bufio.NewReaderSize(ctxReader{ctx, r}, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("source: xz: %w", err)
	}
	return io.NopCloser(errPrefixReader{zr, "source: xz: "}), nil
}

// errPrefixReader prefixes read errors other than io.EOF.
type errPrefixReader struct {
	r      io.Reader
	prefix string
}

func (e errPrefixReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s%w", e.prefix, err)
	}
	return n, err
}
