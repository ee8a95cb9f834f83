package pathstrip

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// restorer merges a residue and its side table back into the original bytes.
type restorer struct {
	res     io.Reader
	pos     io.ByteReader
	paths   []string
	used    int    // distinct paths referenced so far
	left    uint64 // residue bytes to copy before pending
	pending string // cut string to emit once left is 0
	tail    bool   // the terminator record has been read
	err     error
}

// NewRestorer returns a reader yielding the original bytes. It fails with an
// error wrapping ErrCorrupt (or ErrTooManyPaths) when the residue, the
// positions and the paths do not fit together or do not match opt.
func NewRestorer(residue, positions io.Reader, paths []string, opt Options) io.Reader {
	r := &restorer{res: residue, paths: paths}
	if br, ok := positions.(io.ByteReader); ok {
		r.pos = br
	} else {
		r.pos = bufio.NewReaderSize(positions, 512)
	}
	r.err = checkPaths(paths, opt)
	return r
}

func checkPaths(paths []string, opt Options) error {
	if len(paths) > opt.maxPaths() {
		return fmt.Errorf("%w: %d > %d", ErrTooManyPaths, len(paths), opt.maxPaths())
	}
	seen := make(map[string]bool, len(paths))
	for i, p := range paths {
		if !validCut(p, opt) {
			return corrupt("path %d %q is not a cut string for %s %s", i, p, opt.prefix(), opt.Mode)
		}
		if seen[p] {
			return corrupt("path %d %q is listed twice", i, p)
		}
		seen[p] = true
	}
	return nil
}

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, a...)...)
}

// Read implements io.Reader.
func (r *restorer) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.err == nil {
		switch {
		case r.left > 0:
			c := r.readResidue(p[n:])
			n += c
			if c == 0 && r.err == nil {
				return n, nil // no progress from the residue reader
			}
		case r.pending != "":
			c := copy(p[n:], r.pending)
			r.pending = r.pending[c:]
			n += c
		case r.tail:
			r.err = r.finish()
		default:
			r.err = r.next()
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, r.err
}

func (r *restorer) readResidue(p []byte) int {
	if uint64(len(p)) > r.left {
		p = p[:r.left]
	}
	c, err := r.res.Read(p)
	r.left -= uint64(c)
	switch {
	case err == io.EOF && r.left > 0:
		r.err = corrupt("residue ends %d bytes early", r.left)
	case err != nil && err != io.EOF:
		r.err = err
	}
	return c
}

// next reads one position record.
func (r *restorer) next() error {
	gap, err := readUvarint(r.pos)
	if err != nil {
		return err
	}
	idx, err := readUvarint(r.pos)
	if err != nil {
		return err
	}
	r.left = gap
	if idx == 0 {
		r.tail = true
		return nil
	}
	if idx > uint64(r.used)+1 || idx > uint64(len(r.paths)) {
		return corrupt("path index %d out of range (%d used of %d)", idx-1, r.used, len(r.paths))
	}
	if idx == uint64(r.used)+1 {
		r.used++
	}
	r.pending = r.paths[idx-1]
	return nil
}

// finish checks that residue and positions both end here.
func (r *restorer) finish() error {
	if r.used != len(r.paths) {
		return corrupt("%d of %d paths never used", len(r.paths)-r.used, len(r.paths))
	}
	if _, err := r.pos.ReadByte(); err != io.EOF {
		if err == nil {
			return corrupt("trailing bytes after terminator record")
		}
		return err
	}
	var b [1]byte
	for range 100 {
		n, err := r.res.Read(b[:])
		switch {
		case n > 0:
			return corrupt("residue longer than the side table says")
		case err == io.EOF:
			return io.EOF
		case err != nil:
			return err
		}
	}
	return io.ErrNoProgress
}

// readUvarint reads a canonical (shortest form) uvarint.
func readUvarint(r io.ByteReader) (uint64, error) {
	var x uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, corrupt("truncated positions: %w", io.ErrUnexpectedEOF)
			}
			return 0, err
		}
		if b < 0x80 {
			if i > 0 && b == 0 || i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, corrupt("bad uvarint")
			}
			return x | uint64(b)<<s, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, corrupt("uvarint overflow")
}
