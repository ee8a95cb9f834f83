//go:build !cgo

package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nardedup/nardedup/internal/decompress"
)

// HasLibxz reports whether this program encodes xz frames (liblzma, linked
// in with cgo). Every build decodes them.
const HasLibxz = false

func newXZEncoder(uint32, bool) (frameEncoder, error) {
	return nil, errors.New("chunkstore: xz frames need liblzma, and this program was built without cgo (CGO_ENABLED=0)")
}

// decodeXZ decodes the xz frame comp into dst, which has room for the
// bytes wanted: the whole frame (all), which must then end there, or its
// head. Without cgo it runs the xz program, or a pure Go decoder.
func decodeXZ(ctx context.Context, comp, dst []byte, all bool) error {
	rc, err := decompress.DefaultXZ().NewReader(ctx, bytes.NewReader(comp))
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, dst); err != nil {
		return fmt.Errorf("xz: %w", err)
	}
	if all {
		n, err := io.Copy(io.Discard, rc)
		if err != nil {
			return fmt.Errorf("xz: %w", err)
		}
		if n != 0 {
			return fmt.Errorf("xz: frame does not end after %d bytes", len(dst))
		}
	}
	return nil
}
