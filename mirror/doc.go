// Package mirror keeps a repository a copy of a remote nardedup
// repository, or of the closure of some of its store paths, through the
// remote's read API (package remote), transferring only what the mirror
// does not hold.
//
// # Design: chunks re-stored, not objects copied
//
// A mirror could copy the remote's objects as they are — packs, manifests
// and narinfos, a byte-identical repository — or store the remote's NARs
// through its own chunk store. It does the latter. Each NAR the mirror
// lacks is rebuilt by remote.Client.Fetch, which takes every chunk the
// mirror holds from the mirror's own store (by chunk id) and fetches only
// the frames of the others; the NAR is then stored by narstore.PutNAR,
// as ingest stores one, and chunks the mirror holds are not written
// again. Because the mirror is created with the remote's chunking (the
// read API's info document says it), its chunks have the ids the
// remote's manifests name.
//
// This needs no more of the read API than manifests, frames and a paged
// narinfo listing; it dedups against everything the mirror holds, not
// just against the remote's packs, so a mirror of several remotes, or
// one that also ingests, stores each chunk once; and the mirror's packs,
// manifests and index are its own, written by the code every repository
// is written by, so serve, verify, gc and export need nothing new. The
// cost is CPU: every fetched NAR is cut into chunks again and its new
// chunks compressed again. Copying objects would be cheaper in CPU and
// simpler to compare, but would need endpoints for packs' tables of
// contents, would fetch whole frames of which the mirror holds most
// chunks, and would make the mirror's garbage depend on the remote's.
//
// # Checks and visibility
//
// Nothing from the remote is trusted: every chunk is checked against its
// id (BLAKE3) and every NAR against its narinfo's NarHash and NarSize as
// it is fetched and as it is stored. NARs are stored in batches
// (Options.Batch): once a batch's chunks and manifests are durable, each
// NAR is rebuilt from the mirror's own store and checked against its
// NarHash, and only then is its narinfo — the remote's text, byte for
// byte — written, making the store path visible. A narinfo is the
// commit point: a run killed at any moment leaves chunks and manifests
// that the next run reuses (a NAR whose manifest is stored is only
// checked again, a chunk held is not fetched), and no narinfo whose NAR
// is not stored and checked.
//
// # What is not mirrored
//
// A narinfo the mirror holds is not fetched again, even if the remote
// changed it; a store path the remote forgets stays in the mirror until
// it is forgotten there.
package mirror
