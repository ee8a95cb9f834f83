//go:build !cgo || !linux

package source

import (
	"context"
	"errors"
	"io"
)

func libXZAvailable() bool { return false }

func startLibXZ(context.Context, io.Reader) (io.ReadCloser, error) {
	return nil, errors.New("source: xz: liblzma is used only by Linux builds with cgo")
}
