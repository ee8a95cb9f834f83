// Package index is the local index of a repository: a bbolt file that
// caches every pack's table of contents (its index object), so that a
// chunk is found by id without reading the repository.
//
// The file is derived data. Package chunkstore fills it from the index
// objects when a store opens and whenever it reloads them, and rebuilds it
// from them or from the packs alone (chunkstore.Rebuild); a file that is
// damaged or of another layout is dropped and created anew, empty.
//
// # Layout
//
// Keys are fixed-width raw ids, so that the locations of one chunk, or the
// chunks of one pack, are found by a prefix scan:
//
//	chunks      chunk id | pack id -> Location (frame offset, lengths, chunk offset and length)
//	packs       pack id -> number of chunks
//	packchunks  pack id | chunk id -> nothing
//	meta        "version" -> the layout version
//
// A chunk stored in several packs has one entry for each, in pack id
// order: every process reading the same index objects picks the same
// first location.
package index
