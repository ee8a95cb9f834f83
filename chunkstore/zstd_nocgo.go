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
