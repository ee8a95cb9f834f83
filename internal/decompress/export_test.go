package decompress

import "io"

// XZPid returns the process id of an xz-exec stream, or 0.
func XZPid(rc io.ReadCloser) int {
	if p, ok := rc.(*xzProc); ok {
		return p.cmd.Process.Pid
	}
	return 0
}
