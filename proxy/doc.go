// Package proxy is a local substituter in front of a nardedup server: Nix
// uses it as an ordinary binary cache, and for each NAR it fetches the
// manifest through the server's read API (package remote), takes every
// chunk its cache holds from the NARs it served before — usually the
// previous build of the same package — and fetches only the frames of
// the others.
//
// Narinfos and nix-cache-info are passed through from the upstream, each
// narinfo pointed at the plain NAR the proxy serves (server.PointAtNAR).
// A NAR is checked by the client against its chunks' ids and its NarHash
// before its last byte goes out, so Nix never receives a complete wrong
// NAR.
//
// The cache holds chunks, bounded by Options.CacheSize bytes, and evicts
// the least recently used: in memory, or in Options.CacheDir across
// restarts, one file a chunk named by its id, written by rename and
// checked against its id on every read (a damaged file is removed and
// its chunk fetched again). Not yet done: passing NARs through unchanged
// when the upstream is not nardedup.
package proxy
