package source

import "time"

// SetHTTPIdleTimeout changes the NAR download idle timeout; it returns a
// function restoring the old value.
func SetHTTPIdleTimeout(d time.Duration) (restore func()) {
	old := httpIdleTimeout
	httpIdleTimeout = d
	return func() { httpIdleTimeout = old }
}
