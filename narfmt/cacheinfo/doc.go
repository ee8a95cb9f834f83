// Package cacheinfo reads and writes nix-cache-info, the file at the root
// of a Nix binary cache that names the store directory the cache serves
// and tells clients whether to query it in bulk and how to rank it.
//
// A typical file is
//
//	StoreDir: /nix/store
//	WantMassQuery: 1
//	Priority: 40
//
// Parse is stricter than Nix (which skips lines it cannot read): every line
// must be "Key: value" ending in a newline, known keys may appear once, and
// values must be canonical. Unknown keys and the order of lines are kept,
// so String returns the parsed text unchanged.
package cacheinfo
