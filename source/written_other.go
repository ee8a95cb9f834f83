//go:build !linux

package source

import (
	"io/fs"
	"time"
)

// written returns a file's modification time (its change time is not
// portable to read).
func written(fi fs.FileInfo) time.Time { return fi.ModTime() }
