// Package forward keeps forward records: for a pack that garbage
// collection deleted, where each of its chunks lives now.
//
// A location (index.Location) names a pack. Once manifests carry their
// chunks' locations instead of readers looking every chunk up in a local
// index, a location must stay readable after collection repacks the pack
// it names — without rewriting the manifests (a popular pack is named by
// very many of them) and without an index of every chunk. So before a
// collection deletes a pack, it writes forward/<2 hex>/<pack id>: every
// chunk of the pack that a surviving pack holds, with one location there
// (Put). A reader whose pack is gone looks the chunk up in the record
// (Resolver.Resolve); the pack it names may itself have been repacked and
// forwarded by a later collection, so Resolve follows such chains, up to
// MaxHops records.
//
// # Format
//
//	magic "NDFW" | version (1 byte) | pack id (32) |
//	number of target packs (uint32) | number of entries (uint32) |
//	target pack ids (32 each, ascending) |
//	entries (60 bytes each, ascending by chunk id): chunk id (32) |
//	  target (uint32 index into the target packs) | frame offset (uint64) |
//	  frame compressed and decompressed lengths, chunk offset and length
//	  (uint32 each) |
//	checksum: the first 8 bytes of the BLAKE3 of everything before
//
// Integers are big-endian. The entries are sorted so that a lookup is a
// binary search; Decode checks the order, the bounds of every location
// and the checksum, and never allocates more than its input's size
// implies.
//
// Records are immutable: Put writes a record only if none is stored, so a
// collection that resumes after a crash leaves the one it wrote before.
// Garbage collection deletes a record once no manifest's locations need
// it, directly or through a chain (see package gc); Resolve then reports
// ErrNotForwarded, and a reader whose index is stale reloads it.
package forward
