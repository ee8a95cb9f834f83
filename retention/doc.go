// Package retention decides which store paths a repository stops serving,
// and forgets them.
//
// Forgetting a store path deletes its narinfo and nothing else: the server
// answers 404 for it at once, and a later garbage collection (package gc)
// reclaims the manifests and chunks that no remaining narinfo reaches.
//
// # Rules
//
// A Rule selects store paths in up to three ways:
//
//   - Paths: the store paths (or their hashes) listed.
//   - OlderThan: the narinfos stored longer ago than that, by the narinfo
//     object's modification time in the backend (when the path was
//     ingested). A backend that cannot tell leaves a path unselected.
//   - KeepRoots: everything outside the closure of the listed store paths,
//     following each narinfo's References.
//
// When several are given, a path goes if Paths or OlderThan selects it, and
// KeepRoots also selects everything outside the closure; a path inside the
// closure of KeepRoots is never forgotten, whatever the other rules say.
// Entries of Paths and roots that the repository does not hold, and
// references in the closure that it does not hold, are reported, not
// errors. Select refuses keep-roots of which none is in the repository,
// since they would select every path.
//
// # Tombstones
//
// With Options.Tombstones, each narinfo is first copied, unchanged and with
// its signatures, to tombstones/<hash>.narinfo and then deleted (in that
// order, so that a crash never loses a narinfo without its tombstone).
// Tombstones are not served and keep nothing alive. When ingest meets the
// same NAR under a tombstoned store path again, it writes back the
// tombstone's narinfo (see package ingest).
package retention
