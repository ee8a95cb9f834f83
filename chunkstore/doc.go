// Package chunkstore keeps content-defined chunks once, compressed, in packs
// on a Backend, and finds them again by their BLAKE3 id.
//
// # Chunks and streams
//
// A stream written through a Writer is cut with content-defined chunking
// (github.com/restic/chunker, parameters fixed in the repository Config) and
// each chunk is named by the BLAKE3 hash of its bytes (ID). The writer emits
// the stream's chunk list as Refs; a chunk the repository already holds is not
// stored again. Every chunk read back is checked against its id.
//
// # Frames and packs
//
// Consecutive new chunks of one stream are grouped (up to Config.GroupSize
// bytes) and compressed together as one zstd frame: grouping compresses far
// better than one frame a chunk, at the price of reading a whole frame to get
// one chunk. New repositories compress with libzstd (level 4 by default;
// Config.Encoder and Config.ZstdLevel), linked in with cgo;
// github.com/klauspost/compress/zstd writes where cgo is off, and every
// frame is read with it. A Copier rewrites chunks already stored into new
// frames, at other levels and group sizes (garbage collection's repacking
// and recompression). Readers can keep decoded frames in a frame cache
// (Options.FrameCache), so that a frame several NARs or several runs of
// one NAR's chunks come from is decompressed once; a reader without one
// keeps the last few frames of its own stream. Frames are appended into packs, objects of about Config.PackSize
// bytes stored under "packs/<2 hex>/<pack id>". A pack is
//
//	frame 0 | frame 1 | … | table of contents | trailer
//
// where the table of contents lists every frame (compressed and
// uncompressed length, BLAKE3 of the compressed bytes) and every chunk (id,
// frame, offset and length in the decompressed frame), and the 16-byte trailer
// holds the table's length, the first 8 bytes of its BLAKE3 and the magic
// "NDPK" (package pack). The frames, concatenated, are one valid zstd stream. The pack id is
// the BLAKE3 of the whole pack and a random nonce: unique to one store of a
// pack, so that garbage collection, which deletes packs by id, never
// deletes a pack stored anew that repeats a condemned one.
//
// # Index
//
// After a pack is stored, a copy of its table of contents is stored as
// "index/<pack id>". A local bbolt file caches every index object for fast
// lookups; it is derived data, refreshed from the index objects when the store
// opens and rebuilt from them (or from the packs alone) by Rebuild.
//
// A store opened with Options.Candidates writes without the local index
// (candidates.go): it deduplicates only against the chunks its caller
// offers (AddCandidates; ingest offers the chunks of the newest earlier
// NARs of the same package name, from their manifests' location tables),
// those it stored itself, and those pending in it, in a bounded set,
// least recently used forgotten. It still writes index objects (garbage
// collection and Rebuild read them), honours the condemned list as an
// indexed store does (a candidate in a condemned pack is passed over and
// dropped when the list is loaded and when it goes) and checks that an
// offered location's pack exists, since garbage collection may have moved
// its chunks. Each stream's result says where its chunks lie
// (WriteResult.LocateAll), for the manifest's location table. A chunk the
// candidates miss is stored again.
//
// # Durability
//
// Write order is the crash-safety contract: a pack, then its index object,
// then the bbolt entries. Only then does the store run the callbacks queued
// with AfterDurable for that pack (the caller's manifests and narinfos), so
// nothing visible ever refers to a chunk that is not durable. Data written
// before a crash is unreferenced garbage, never a dangling reference.
//
// # Packages
//
// The pack format (ids, table of contents, trailer) is package
// chunkstore/pack; the local bbolt index is package chunkstore/index; the
// garbage collection protocol that writers honour (sessions, the condemned
// list) is package chunkstore/lease; the records of where a deleted pack's
// chunks went, which ReadChunkAt and the streaming reader follow, are
// package chunkstore/forward. Store ties them to a Backend. Its
// read side finds chunks in the index and reads their frames (reader.go,
// packreader.go, framecache.go); its write side cuts streams into frames,
// frames into packs, and stores them in the durable order (writer.go,
// packwriter.go, durable.go), and so does the Copier (copier.go); sync.go
// keeps the local index up to date with the index objects, and rebuild.go
// builds it anew.
package chunkstore
