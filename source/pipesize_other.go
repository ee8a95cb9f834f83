//go:build !linux

package source

import "os"

// growPipe leaves pipes as they are on systems other than Linux.
func growPipe(*os.File) {}
