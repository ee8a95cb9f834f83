package ingest

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/nardedup/nardedup/narfmt/storepath"
)

// Shard selects the store paths one of N ingest processes takes, so that
// N machines that share nothing but the repository can split a source
// between them: process K of N takes the store paths whose package name
// hashes to K modulo N. The zero Shard, like 0/1, takes every path.
//
// The package name is the store path name without its version (see
// PackageName), so that the versions, rebuilds and outputs of a package
// meet in one process, where their chunks deduplicate against each other
// as they arrive. The hash is the 32-bit FNV-1a of the package name's
// bytes: every release must shard the same way, so that a resumed run and
// its predecessor agree on which process owns which path.
type Shard struct {
	K, N int
}

// ParseShard parses "K/N", two decimal numbers with 0 <= K < N.
func ParseShard(s string) (Shard, error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, kerr := parseCount(ks)
	n, nerr := parseCount(ns)
	if !ok || kerr != nil || nerr != nil || n < 1 || k >= n {
		return Shard{}, fmt.Errorf("ingest: shard %q: want K/N with 0 <= K < N, such as 0/4", s)
	}
	return Shard{K: k, N: n}, nil
}

// parseCount parses a number of decimal digits only (no sign, no spaces).
func parseCount(s string) (int, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.Atoi(s)
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// check reports a Shard that ParseShard would not return.
func (s Shard) check() error {
	if s == (Shard{}) {
		return nil
	}
	if s.N < 1 || s.K < 0 || s.K >= s.N {
		return fmt.Errorf("ingest: shard %d/%d: want 0 <= K < N", s.K, s.N)
	}
	return nil
}

// all reports whether s takes every store path.
func (s Shard) all() bool { return s.N <= 1 }

// Takes reports whether s takes the store path with the given name (the
// part after "<hash>-").
func (s Shard) Takes(name string) bool {
	if s.all() {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(storepath.PackageName(name)))
	return int(h.Sum32()%uint32(s.N)) == s.K
}
