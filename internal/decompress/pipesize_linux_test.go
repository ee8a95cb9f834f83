package decompress

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestGrowPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	growPipe(r)
	got, err := unix.FcntlInt(r.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got < xzPipeSize {
		max, _ := os.ReadFile("/proc/sys/fs/pipe-max-size")
		t.Errorf("pipe holds %d bytes after growPipe, want %d (pipe-max-size %s)", got, xzPipeSize, max)
	}
}
