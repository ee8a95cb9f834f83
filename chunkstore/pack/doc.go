// Package pack is the format of the repository's packs: the ids that name
// chunks and packs, a pack's table of contents and its trailer. It encodes
// and parses bytes and holds no state; package chunkstore stores and reads
// packs on a backend.
//
// # Layout
//
// A pack is
//
//	frame 0 | frame 1 | … | table of contents | trailer
//
// Each frame holds one group of chunks, compressed by the frame's codec:
// zstd (a zstd frame), or xz (an xz stream of one LZMA2 block, which
// garbage collection writes when it recompresses cold data), or xz of the
// group with its gzip streams expanded (CodecXZGzip, also written by
// garbage collection). A pack whose
// frames are all zstd is, without its table and trailer, one valid zstd
// stream.
//
// The table of contents (TOC.Encode) is the magic "NDT1", the number of
// frames, each frame's compressed and decompressed lengths (uvarints) and
// the BLAKE3 of its compressed bytes, then the number of chunks and, for
// each, its id, its frame's index, and its offset and length in the
// decompressed frame (uvarints). A frame's offset in the pack is the sum of
// the compressed lengths before it. A table with a frame of another codec
// than zstd has the magic "NDT2" and, after each frame's BLAKE3, one byte
// naming its codec (Codec); the rest is as in "NDT1". Readers of packs
// older than the codecs stop at "NDT2" as at any damaged table, which is
// why a repository holding such packs says so in its configuration.
//
// The 16-byte trailer (AppendTrailer) holds the table's length
// (little-endian uint32), the first 8 bytes of its BLAKE3 and the magic
// "NDPK". The index object of a pack is a copy of its table of contents.
//
// # Ids
//
// A chunk is named by the BLAKE3 of its bytes (Sum). A pack is named by the
// BLAKE3 of its bytes and of a random nonce (NewID): unique to one store of
// the pack, so that garbage collection, which deletes packs by id, never
// deletes a pack stored anew that repeats a condemned one.
package pack
