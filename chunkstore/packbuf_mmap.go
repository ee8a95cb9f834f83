//go:build linux || darwin || freebsd || netbsd || openbsd

package chunkstore

import "syscall"

// mapPackBuffer returns an empty buffer of capacity n mapped outside the
// Go heap, or nil if mapping fails. The buffers of packs are large and few
// and live as long as the store: in the heap they would count towards the
// live heap that the garbage collector lets the heap grow twice over.
func mapPackBuffer(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	return b[:0]
}

// unmapPackBuffer releases a buffer of mapPackBuffer.
func unmapPackBuffer(b []byte) { _ = syscall.Munmap(b[:cap(b)]) }
