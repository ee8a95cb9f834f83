// Package pathstrip removes Nix store paths from a byte stream, losslessly
// and in a streaming fashion.
//
// A Stripper cuts every occurrence of "<storeDir>/" followed by 32
// nixbase32 characters (and, in CutHashName mode, the "-<name>" after it) out
// of the bytes written to it. What is left, the residue, is byte-identical
// across a mass rebuild that only changed store path hashes. The side table
// records the cuts so that a Restorer yields the original bytes exactly.
//
// # Side table
//
// The positions part is a sequence of records of two uvarints each: the
// number of residue bytes since the end of the previous cut, and 1 + the index
// of the cut string in the paths list. The terminator record is
// (tail length, 0), where the tail is the residue after the last cut.
// Uvarints are in shortest form. The paths part is the list of distinct cut
// strings in order of first appearance, encoded by EncodePaths.
//
// The list holds at most Options.MaxPaths strings. A stream with more
// distinct store paths keeps the first MaxPaths in the list (their later
// occurrences are still cut) and leaves the others in the residue as plain
// bytes, which the Restorer copies like any other residue; the table format
// is the same either way.
//
// The Restorer rejects, with an error wrapping ErrCorrupt, any table that
// does not fit: an index out of range or introducing a path out of order, a
// path never used, a path that the Stripper could not have cut with the given
// Options, a truncated or non-canonical encoding, trailing bytes, and a
// residue longer or shorter than the table says.
//
// # What is cut
//
// Decision: DefaultMode is CutHashName, and the store dir prefix is cut
// with the hash (the residue holds "/nix/store/" only for store paths beyond
// Options.MaxPaths, or not followed by a hash). Options{} still
// means CutHash because that constant is 0; callers set
// Mode: DefaultMode.
//
// README.md ("What is cut") has the two modes measured on a real corpus,
// with the command that measures them.
//
// The corpus's own bumps keep upstream versions in names, so it shows no
// difference between the modes; the simulated bump (new hash and version
// in every reference, as nixpkgs does for openssl-3.0.11 -> 3.0.13) shows
// why names are cut: with CutHash every dependent's residue changes at each
// reference ("-glibc-2.36/lib" stays in it); with CutHashName all of them
// stay identical, so they deduplicate. The cost is 14 B/MB more in the paths
// part (names are stored once per NAR), about 0.0014%. A bump that changes
// the name's length also changes the NAR's length fields around it, which no
// cut can hide.
//
// Cutting the store dir prefix as well saves 11 bytes of residue per
// occurrence and changes nothing else:
// the positions count residue bytes and are the same either way.
//
// Across a mass rebuild the positions part is identical (it deduplicates);
// only the paths part is new per generation.
//
// # Performance
//
// The scan is bytes.Index of "<storeDir>/" (SIMD), the residue is written
// straight from the caller's buffer, and only occurrences straddling a
// Write are copied into a buffer of at most 2 x 256 bytes. Allocations:
// about 24 per stream (the distinct strings, the map, the buffers), none
// per byte. README.md ("Speed") has the throughput measured by
// go test -run '^$' -bench . ./pathstrip/.
package pathstrip
