//go:build !cgo

package chunkstore

import "errors"

// HasLibzstd reports whether this program was built with libzstd (cgo),
// which CopyOptions.ZstdLevel above 4 needs.
const HasLibzstd = false

func libzstdVersion() string { return "" }

func newLibzstdEncoder(level, windowLog int, ldm bool) (frameEncoder, error) {
	return nil, errors.New("chunkstore: zstd levels above 4 need libzstd, and this program was built without cgo (CGO_ENABLED=0)")
}

// decodeFrame decompresses comp, which must decompress to exactly n
// bytes, into dst's storage if large enough.
func (r *packReader) decodeFrame(dst, comp []byte, n uint32) ([]byte, error) {
	if cap(dst) < int(n) {
		dst = make([]byte, 0, n)
	}
	return r.dec.DecodeAll(comp, dst[:0])
}
