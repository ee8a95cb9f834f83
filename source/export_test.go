package source

import (
	"io"
	"time"
)

// SetHTTPIdleTimeout changes the NAR download idle timeout; it returns a
// function restoring the old value.
func SetHTTPIdleTimeout(d time.Duration) (restore func()) {
	old := httpIdleTimeout
	httpIdleTimeout = d
	return func() { httpIdleTimeout = old }
}

// XZPid returns the process id of an xz-exec stream, or 0.
func XZPid(rc io.ReadCloser) int {
	if p, ok := rc.(*xzProc); ok {
		return p.cmd.Process.Pid
	}
	return 0
}
