package source

import (
	"io/fs"
	"syscall"
	"time"
)

// written returns the later of a file's modification and change times.
func written(fi fs.FileInfo) time.Time {
	t := fi.ModTime()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if c := time.Unix(st.Ctim.Unix()); c.After(t) {
			return c
		}
	}
	return t
}
