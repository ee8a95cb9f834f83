package decompress

import (
	"os"

	"golang.org/x/sys/unix"
)

// xzPipeSize is the buffer asked for xz's output pipe. xz writes 8 KiB at a
// time; with the default 64 KiB pipe it waits for the reader, and wakes it,
// every few writes.
const xzPipeSize = 1 << 20

// growPipe enlarges the pipe behind f to xzPipeSize bytes if the system
// allows (an unprivileged process may be held to
// /proc/sys/fs/pipe-max-size). Failing is harmless: the pipe works as it is.
func growPipe(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.FcntlInt(fd, unix.F_SETPIPE_SZ, xzPipeSize)
	})
}
