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
// its chunk fetched again).
//
// An upstream that is not nardedup (no read API info document) has its
// narinfos and NAR files passed through unchanged, streamed; so has a NAR
// whose manifest the read API lacks (404). A file passed through is
// checked before its last byte goes out: against its narinfo's FileHash
// and FileSize and, decompressed on the side, its NarHash and NarSize;
// a NAR asked for without its narinfo (Nix remembers narinfos across a
// restart of the proxy) against the hash its name holds, by the
// convention of Nix's binary caches, and bounded by
// Options.MaxPassThrough. Any other file is 404.
package proxy
