//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package chunkstore

// mapPackBuffer returns nil: pack buffers come from the Go heap here.
func mapPackBuffer(int) []byte { return nil }

// unmapPackBuffer is never called here.
func unmapPackBuffer([]byte) {}
