package source

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/nardedup/nardedup/narfmt/storepath"
)

// ListFrom reads store paths, one per line (`/nix/store/<hash>-<name>`, as
// in `nix path-info` output or make-bucket's gen-K.paths files), and returns
// their hash parts sorted and without duplicates. A line may also be a bare
// hash or <hash>.narinfo. Blank lines and lines starting with '#' are
// skipped; anything else is an error naming the line.
func ListFrom(r io.Reader) ([]string, error) {
	var hashes []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		base := strings.TrimSuffix(path.Base(line), ".narinfo")
		hash, _, _ := strings.Cut(base, "-")
		if !storepath.IsHash(hash) {
			return nil, fmt.Errorf("source: line %d: not a store path: %q", n, line)
		}
		hashes = append(hashes, hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("source: reading store paths: %w", err)
	}
	slices.Sort(hashes)
	return slices.Compact(hashes), nil
}

type listed struct {
	Source
	hashes []string
}

// WithHashes returns src with a List that reports the given narinfo hashes
// (sorted, without duplicates) instead of asking src. This gives an HTTP
// source a listing. Invalid hashes are an error.
func WithHashes(src Source, hashes []string) (Source, error) {
	hs := slices.Clone(hashes)
	for _, h := range hs {
		if err := checkHash(h); err != nil {
			return nil, err
		}
	}
	slices.Sort(hs)
	return &listed{Source: src, hashes: slices.Compact(hs)}, nil
}

func (l *listed) List(ctx context.Context, fn func(hash string) error) error {
	return each(ctx, l.hashes, fn)
}
