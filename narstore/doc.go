// Package narstore keeps whole NARs and their narinfos in a chunkstore
// repository, and gives them back bit for bit.
//
// # Putting a NAR
//
// PutNAR reads a NAR once: it checks the NAR's structure (narfmt), its
// NarHash and NarSize, and cuts the store paths out of it (pathstrip). The
// residue, which a mass rebuild leaves unchanged, and the positions part of
// the side table are written as chunk streams; the residue's chunk list (the
// recipe) is itself written as a chunk stream, so a rebuilt NAR whose
// residue is already stored adds only a small manifest.
//
// # Objects
//
//	manifests/<NarHash, nixbase32>  magic "NDMF", version, NarSize, residue
//	                                and positions sizes, the chunk refs of the
//	                                recipe and positions streams, and the
//	                                NAR's distinct store path strings
//	narinfo/<hash>.narinfo          the upstream narinfo text, signatures
//	                                and all, byte for byte
//	uploads/<FileHash>.nar[.ext]    what a pushed NAR file held, until its
//	                                narinfo comes (see PutPushedNAR)
//	names/<name hash>/<NarHash>     empty: the NAR belongs to this package
//	                                name (NAR.Name, or the narinfo's
//	                                store path in PutNarInfo)
//
// A recipe is a sequence of (32-byte chunk id, uvarint length) records.
//
// # Order of writes
//
// A NAR's chunks are made durable first (chunkstore.Commit), then its
// manifest, then its names object if it has a name, then its narinfo. A
// narinfo is therefore only ever visible when everything needed to rebuild
// its NAR is stored, and a names object only names a NAR whose manifest
// exists (until garbage collection removes it; readers pass such names
// over).
//
// # Candidates by name
//
// A chunk store opened without an index (chunkstore.Options.Candidates)
// deduplicates only against what it is offered. OfferNamed lists the
// names objects of a package name (one LIST) and offers the chunks of its
// newest NARs, with the locations their manifests carry, reading each
// manifest and its recipe. A manifest written by such a store gets
// its location table from the streams' results instead of the index.
//
// # Reading
//
// Open streams a NAR back: the recipe drives chunk reads, pathstrip puts the
// store paths back, and the stream's SHA-256 and length are checked against
// the manifest before its last byte is released, so a reader never receives a
// complete NAR that differs from the original.
package narstore
