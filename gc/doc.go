// Package gc reclaims the space of what no narinfo reaches any more:
// manifests of forgotten or never-finished NARs, and the packs whose chunks
// no manifest needs. Packs that are mostly dead are repacked: their live
// chunks are copied into new packs, in the order they lay, and the old
// packs go. With Options.Recompress, so are the live chunks of cold packs
// that ingest wrote, into larger frames compressed harder
// (RecompressOptions).
//
// # Marking
//
// Every stored narinfo is live. From each, the mark follows the NarHash to
// the manifest, and the manifest to the chunks of its recipe and positions
// streams and to the residue chunks the recipe lists. The live chunk ids go
// into a temporary bbolt file (Options.TempDir), so memory does not grow
// with the repository. A narinfo, manifest or recipe that cannot be read
// stops the collection before anything is deleted.
//
// A pack to repack that is damaged where a live chunk lies is skipped
// whole (chunkstore.Copier.CopyPack) and left in place; the rest of the
// collection goes on. At its end, a second pass over the narinfos finds
// the store paths that reach the damaged frames' chunks, Report.Damaged
// names them with the pack, and Collect returns an error.
//
// A chunk stored in several packs counts as live in one of them only: the
// first by pack id, the location every process's index returns first. A
// pack none of whose chunks is live that way is dead.
//
// # Deleting while others write: the protocol
//
// The rules both sides follow — sessions and leases, the condemned list,
// what a writer does while one stands — live in package
// chunkstore/lease, which says which side does what; the collection
// drives its side (lease.Collector) in the steps below.
//
// Servers only read, but an ingest deduplicates against its local index,
// which may be minutes old, and may link a new narinfo to a NAR stored
// long ago. So a collection never deletes what it has just found dead. It
// runs in two phases.
//
//  1. Condemn. Objects younger than the grace period (by the backend's own
//     clock) are never candidates. Older packs without an index object
//     (their writer died between the two) are. Dead packs and unreferenced manifests,
//     and packs whose live fraction is below Options.RepackBelow after
//     their live chunks were copied, are written to one object,
//     gc/condemned (lease.Condemned), with a fresh id. Nothing is
//     deleted.
//  2. Wait. Every writer (ingest) announces itself in sessions/<id> and
//     renews the announcement every heartbeat, after reloading the index
//     and the condemned list. The announcement lists the views — the ids
//     of the condemned lists — that its lookups and its operations still
//     in progress honour (lease.Writer.Hold). A writer that has loaded
//     the list no longer deduplicates against condemned packs (it stores
//     those chunks again, in packs of fresh ids: a pack id is unique to one
//     store, never derived from content alone), and neither links a
//     narinfo to a condemned manifest nor writes one: a NAR whose manifest
//     is condemned waits until the list is gone (narstore.Store.HoldNAR),
//     without holding up the collection. The collection waits until
//     every live announcement shows only the list's id. A session whose
//     announcement is older than its lease is dead, and so is one of this
//     machine's current boot whose process is gone; a writer that could
//     not renew for half its lease stops writing manifests and narinfos
//     (lease.Writer.CheckLease), so it is never taken for dead while
//     it can still write. A writer that loads a new list seals its open
//     pack, so that its operations holding the old view can finish.
//  3. Sweep. The collection marks again what narinfos written since the
//     first mark reach (all narinfos, when it resumes the list of an
//     earlier run). A condemned manifest that became live stays; a
//     condemned pack holding a live chunk that no other pack holds stays
//     (revived). Everything else goes: for a pack, its forward record
//     first, then its index object, then the pack. Then the forward
//     records, names objects and upload records nothing needs any more
//     (below). Last, gc/condemned is deleted.
//
// A collection killed at any point loses nothing: before the sweep nothing
// is deleted, and the next run finds gc/condemned and finishes the sweep,
// marking everything again.
//
// # Forward records
//
// A location (a pack, a frame in it, a chunk in the frame) that a
// manifest or a reader's stale index holds must stay readable after the
// pack it names is deleted. So before the sweep deletes a pack's index
// object, it writes the pack's forward record (package chunkstore/forward):
// every chunk of the pack, live or not — a manifest written while the
// collection waited may name any of them — that a surviving pack holds
// (the copies repacking made, or any other pack not deleted by this sweep
// that holds the same chunk), with the first such location by pack id. A
// pack none of whose chunks survives elsewhere gets no record. The sweep
// decides first which condemned packs go, so that no record points into
// a pack the same sweep deletes.
//
// The order — record, index object, pack — is what makes a crash safe: a
// pack whose index object is gone already has its record, and a run that
// resumes the list writes the records of the packs it has yet to delete,
// keeping any written before (forward.Put does not replace one). A reader
// whose pack was deleted under it (chunkstore.Store.ReadChunkAt, and the
// streaming reader) follows the record, and the records a later
// collection wrote for the packs it points to, to where the chunk lives
// now; only for chunks no record names does it reload its index.
//
// # Forward records, names objects and upload records
//
// After the packs, the sweep deletes what only served objects that may be
// gone, each only if stored before the grace period (by the backend's
// clock): a crash in the middle loses nothing, as every object it still
// has to delete is found again by the next run, which resumes the list.
// A collection that finds nothing to condemn but such records (an upload
// record, or a record of a gone pack no live manifest names) condemns an
// empty list, so that the wait below holds before they go.
//
// A forward record is needed while any kept manifest's location table
// (narstore.Manifest.Locations) names its pack, or names a pack whose
// needed record forwards to it (records chain: A→B, then B repacked,
// B→C). The manifests kept are those the marks reached and, listed after
// the manifests are swept, every other one still stored — a manifest
// younger than the grace period, or one a pushed NAR or an interrupted
// ingest left, may yet get a narinfo without being rewritten. The marks
// put the packs their manifests name in the temporary bbolt file beside
// the live chunks; the sweep lists the packs that still exist, follows
// the records of the named packs that do not (reading only those), and
// deletes every other record of a deleted pack, but never one of a pack
// in the list being swept: those are this sweep's own, still needed by
// readers whose index or candidates are older than it. A manifest that
// cannot be read keeps every record for this run.
//
// Nothing written later can name a pack deleted before this collection
// began, so the records it deletes stay unneeded: every writer has loaded
// this collection's list (the wait), and in the same reload it dropped
// from its index the packs whose index objects an earlier sweep deleted
// (chunkstore.Store.Sync), so an ingest's index no longer offers them. A
// store without an index (ingest --dedup=names) takes candidates from
// earlier manifests' locations: it checks each pack exists, offers a
// chunk of a gone one at the location its forward records give — so a
// manifest stores the resolved location, not the stale one — and passes
// over a chunk whose record is gone (chunkstore.Store.AddCandidates).
// Locations naming the packs this sweep deletes may still be written by
// writers that hold its list; their records are this sweep's own, kept,
// and the next collection finds those manifests. A reader's stale local
// index that names a pack whose record is gone reloads the index.
//
// A names object (names/<name>/<NarHash>) is only a hint for ingest's
// names dedup: it goes once no kept manifest has its NarHash. One whose
// NAR an ingest stores again while the sweep runs may go too; the ingest
// then finds fewer candidates, and one whose manifest is gone is passed
// over (narstore.Store.OfferNamed).
//
// An upload record (uploads/<file>) tells a narinfo pushed after its NAR
// file what the file held. Once older than the grace period it goes:
// either a narinfo names its NAR already (the record did its job), or none
// does and the NAR's manifest, unreferenced, is collected after the same
// grace period, so keeping the record longer would not let a late narinfo
// in. A narinfo pushed after its record went is refused ("never pushed",
// 409) and nothing of it is visible; a push of the same file rewrites the
// record, so only a push that rewrites it between the sweep's listing and
// its delete loses it, and Nix then reports the refusal.
//
// One collection runs at a time: a second one refuses to start while the
// first one's session is live.
package gc
