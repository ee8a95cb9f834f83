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
//
// # What is cut
//
// Decision: DefaultMode is CutHashName, and the store dir prefix is cut
// with the hash (the residue never holds "/nix/store/"). Options{} still
// means CutHash because that constant is 0; callers set
// Mode: DefaultMode.
//
// Measured with TestMeasureCorpus (PATHSTRIP_MEASURE=small go test -v
// -run TestMeasureCorpus ./pathstrip/) on the small make-bucket corpus
// (/var/tmp/nardedup-corpus/small-3, real Debian 12 contents built by Nix
// 2.8): every NAR of a generation stripped in one piece, sizes summed.
//
//	                                    CutHash    CutHashName
//	gen-1: 43 NARs, 80.7 MB; cuts       1468 (18.2/MB), 89 distinct strings
//	residue bytes removed                 63124      81310
//	positions part, B/MB                   53.4       53.3
//	paths part (EncodePaths), B/MB         49.1       63.5
//	whole table, B/MB                     102.4      116.8
//	gen-1->gen-2 (mass rebuild), same name: residue and positions identical
//	  for 42 of 43 NARs in both modes; the one that differs is
//	  stdenv-linux, whose contents really changed (rebuild salt).
//	gen-2->gen-3 (Debian revision bumps + rebuild): 37 of 40 identical in
//	  both modes; the 3 others (libssh2, pcre2, stdenv) really changed.
//	simulated same-length bump of a dependency name in gen-2
//	  glibc-2.36 -> 2.37, 25 dependent NARs:     0 kept      25 kept
//	  openssl-3.0.17 -> 3.0.18, 3 dependent NARs: 0 kept       3 kept
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
// occurrence (16148 bytes, 200 B/MB, in gen-1) and changes nothing else:
// the positions count residue bytes and are the same either way.
//
// Across a mass rebuild the positions part is identical (it deduplicates);
// only the paths part, 63.5 B/MB, is new per generation.
//
// # Performance
//
// go test -run '^$' -bench . -count 3 ./pathstrip/ on an AMD EPYC with 2
// cores shared with other builds (load average 11-13; one-core numbers
// with -cpu 1 alike). Strip of real NAR bytes (first 24 MiB of gen-1, 30
// cuts/MB) 11.7-13.2 GB/s when the machine was quiet, 1.2-5.5 GB/s under
// load; synthetic data at corpus density (25% '/' bytes) 2.1-4.2 GB/s; very
// dense data (1800 cuts/MB) 0.7-2.7 GB/s. Restore 4.4-27 GB/s. A CPU
// profile (strip + restore) is 70% memmove (residue out, original back) and
// 20% IndexByte inside bytes.Index: the scan is bytes.Index of
// "<storeDir>/" (SIMD), the residue is written straight from the caller's
// buffer, and only occurrences straddling a Write are copied into a buffer
// of at most 2 x 256 bytes. Allocations: about 24 per stream (the distinct
// strings, the map, the buffers), none per byte.
package pathstrip
