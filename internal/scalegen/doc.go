// Package scalegen writes synthetic repositories of a chosen size, from a
// seed, so that what grows with a repository (the local index, the index
// objects, the manifests, a fresh server's start, garbage collection's live
// set) can be measured at sizes no test corpus reaches.
//
// # What is generated
//
// A repository holds packages, each built over several generations. A
// package's NAR is a directory of files whose sizes follow from a
// log-normal NAR size (most NARs a chunk or two, a few of thousands); its
// files name the package's own store path and those of a few dependencies,
// as real binaries do. Every generation is a mass rebuild: every store path
// hash changes, and a fraction of each package's files (Options.Rebuild)
// get new contents, so most chunks of a NAR repeat those of the same
// package's previous NAR once pathstrip has cut the store paths out.
//
// NARs are stored through the real write path (narstore.PutNAR, the
// chunk store's writer, packs, index objects, manifests and narinfos), so
// the repository opens with repo.Open, verifies and serves like any other.
//
// # Scaled-down chunks
//
// To fit millions of chunks on one disk, Config scales the chunker, the
// frame size and the pack size of the default configuration down by Scale
// (chunks average 1 KiB instead of 64 KiB, the least the chunker takes),
// and file contents are pseudo-random text that compresses about twofold.
// The counts keep their real proportions: chunks per NAR, chunks per frame
// and per pack, and so index entries, index objects and manifests per
// chunk. What does not scale down is the recipe: at 1 KiB a chunk, a NAR's
// chunk list is itself cut into about one chunk per thirty, where 64 KiB
// chunks need one per two thousand. Objects too small to be cut (a small
// NAR's recipe and positions) stay one chunk each, as they are at 64 KiB.
package scalegen
