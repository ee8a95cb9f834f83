package decompress

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"

	"github.com/ulikunitz/xz"
)

// An XZDecoder is one implementation of xz decompression.
type XZDecoder struct {
	// Name is "xz-lib" (liblzma in this process), "xz-exec" (the xz
	// program) or "xz-go" (pure Go).
	Name string
	// Path is the xz program run by "xz-exec".
	Path string
}

// ExecXZ returns the decoder that runs the xz program at path (`xz -dc`).
func ExecXZ(path string) XZDecoder { return XZDecoder{Name: "xz-exec", Path: path} }

// GoXZ returns the pure Go decoder (github.com/ulikunitz/xz).
func GoXZ() XZDecoder { return XZDecoder{Name: "xz-go"} }

// LibXZ returns the decoder that calls liblzma (liblzma.so.5, loaded at
// run time) in this process, and whether this program can load it: a Linux
// build with cgo on a system that has the library (Debian's liblzma5,
// which xz-utils depends on).
func LibXZ() (XZDecoder, bool) { return XZDecoder{Name: "xz-lib"}, libXZAvailable() }

// DefaultXZ returns the decoder used by NewReader for "xz": liblzma in
// this process when it can be loaded, else the xz program when one is found
// on PATH, else the pure Go decoder, the fastest first (see the package
// documentation). The choice is made once.
var DefaultXZ = sync.OnceValue(func() XZDecoder {
	if d, ok := LibXZ(); ok {
		return d
	}
	if path, err := exec.LookPath("xz"); err == nil {
		return ExecXZ(path)
	}
	return GoXZ()
})

// String describes the decoder, e.g. "xz-exec (/usr/bin/xz)".
func (d XZDecoder) String() string {
	switch d.Name {
	case "xz-exec":
		return fmt.Sprintf("xz-exec (%s)", d.Path)
	case "xz-lib":
		return "xz-lib (liblzma.so.5)"
	}
	return d.Name + " (github.com/ulikunitz/xz)"
}

// NewReader returns the decompressed stream of the xz data in r, with the
// semantics of the package-level NewReader.
func (d XZDecoder) NewReader(ctx context.Context, r io.Reader) (io.ReadCloser, error) {
	switch d.Name {
	case "xz-exec":
		return startXZ(ctx, d.Path, r)
	case "xz-lib":
		return startLibXZ(ctx, r)
	}
	in := &tailReader{r: ctxReader{ctx, r}}
	// ulikunitz/xz reads byte by byte: buffer its input.
	zr, err := xz.NewReader(bufio.NewReaderSize(in, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("decompress: xz: %w", err)
	}
	return io.NopCloser(&goXZReader{zr, in}), nil
}

// goXZReader checks the end of the input itself: ulikunitz/xz reports a
// clean end for input cut right after a stream or block header.
type goXZReader struct {
	zr *xz.Reader
	in *tailReader
}

func (g *goXZReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err == io.EOF && !g.in.endsWith("YZ") {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("decompress: xz: %w", err)
	}
	return n, err
}

// tailReader remembers whether its input ended and its last bytes.
type tailReader struct {
	r    io.Reader
	n    int64
	eof  bool
	tail []byte // up to 64 last bytes
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	b := p[:n]
	if len(b) > 64 {
		b = b[len(b)-64:]
	}
	t.tail = append(t.tail, b...)
	if len(t.tail) > 64 {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-64:]...)
	}
	t.eof = t.eof || err == io.EOF
	return n, err
}

// endsWith reports whether the input was read to its end and, ignoring
// xz stream padding (NUL bytes), ends with suffix.
func (t *tailReader) endsWith(suffix string) bool {
	return t.eof && strings.HasSuffix(strings.TrimRight(string(t.tail), "\x00"), suffix)
}
