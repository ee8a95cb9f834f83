package bench

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narstore"
)

// plainNarInfo rewrites a narinfo to describe an uncompressed NAR at url:
// URL, Compression, FileHash and FileSize change, every other line (the
// signatures too, which do not cover these fields) stays as it was.
func plainNarInfo(text []byte, url, narHash string, narSize int64) ([]byte, error) {
	repl := map[string]string{"URL": url, "Compression": "none", "FileHash": narHash,
		"FileSize": strconv.FormatInt(narSize, 10)}
	done := make(map[string]bool)
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(string(text), "\n") {
		if line == "" {
			continue
		}
		key, _, _ := strings.Cut(line, ": ")
		if v, ok := repl[key]; ok {
			line = key + ": " + v + "\n"
			done[key] = true
		}
		b.WriteString(line)
	}
	for _, key := range []string{"URL", "Compression", "FileHash", "FileSize"} {
		if !done[key] {
			b.WriteString(key + ": " + repl[key] + "\n")
		}
	}
	if _, err := narinfo.ParseStoreDir(bytes.NewReader(b.Bytes()), narstore.DefaultConfig().StoreDir); err != nil {
		return nil, fmt.Errorf("rewritten narinfo: %w", err)
	}
	return b.Bytes(), nil
}

// forEach calls fn with every element of items on jobs goroutines and
// returns the first error.
func forEach[T any](jobs int, items []T, fn func(T) error) error {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	work := make(chan T)
	for range max(jobs, 1) {
		wg.Go(func() {
			for it := range work {
				if err := fn(it); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
	return first
}

// dirSize is the apparent size of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bench: size of %s: %w", dir, err)
	}
	return n, nil
}
