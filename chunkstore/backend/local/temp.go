package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// RemoveTemp deletes temporary files that a crashed or killed process left
// behind, if they were last modified more than olderThan ago, and returns
// how many it removed. Pick olderThan well above the duration of the
// longest Put so that no Put in progress, in this or another process, loses
// its temporary file. It runs on the calling goroutine.
func (b *Backend) RemoveTemp(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	err := fs.WalkDir(b.root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() || !isTemp(name) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			return nil // gone already, or possibly still being written
		}
		if err := b.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("local: remove temporary files: %w", err)
	}
	return removed, nil
}
