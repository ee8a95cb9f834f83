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
// The Restorer rejects, with an error wrapping ErrCorrupt, any table that
// does not fit: an index out of range or introducing a path out of order, a
// path never used, a path that the Stripper could not have cut with the given
// Options, a truncated or non-canonical encoding, trailing bytes, and a
// residue longer or shorter than the table says.
package pathstrip
