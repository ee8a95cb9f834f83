//go:build !cgo || !linux

package decompress

import (
	"context"
	"errors"
	"io"
)

func libXZAvailable() bool { return false }

func startLibXZ(context.Context, io.Reader) (io.ReadCloser, error) {
	return nil, errors.New("decompress: xz: liblzma is used only by Linux builds with cgo")
}
