// Package ingest copies a Nix binary cache into a nardedup repository.
//
// Run lists the source's narinfos and, on Options.Jobs workers, fetches
// each NAR, decompresses it (xz, zstd, bzip2 or none), checks FileHash and
// FileSize of the file and NarHash and NarSize of the NAR while streaming,
// and hands it to narstore, which strips store paths, chunks and stores it.
//
// Ingest is idempotent and resumable: a store path whose narinfo is already
// in the repository is skipped without fetching anything, and a NAR whose
// content is already stored under another store path only gets its narinfo
// written. A NAR that fails any check is reported by name and nothing refers
// to any of it; the run goes on with the rest and reports the failures.
// The compressed file is read no further than one byte past its FileSize
// (without one, past NarSize plus an eighth plus 1 MiB, more than any
// compressor adds) and the NAR no further than one byte past its NarSize,
// so an endless stream, of empty zstd frames say, fails promptly.
//
// Store paths with one NarHash share the work: one fetches the NAR, the
// others wait and are linked to it. When it fails for a fault of its own
// narinfo or file (its download, FileHash, FileSize, decompression, a NAR
// that does not match its NarHash or NarSize), the next waiting path
// tries its own file; only a failure of the NAR itself or of the
// repository fails them all.
//
// A store path forgotten with a tombstone (package retention) and met
// again comes back as it was: when the source's narinfo has the
// tombstone's NarHash, the tombstone's narinfo, signatures and all, is
// written, otherwise the source's (a newer build under that path). The
// tombstone is deleted once the narinfo is written.
//
// # Dedup without a global index
//
// By default new chunks are deduplicated against the local index of every
// chunk in the repository, which grows with it (about 300 bytes a chunk:
// over a terabyte a process at the size of the cache this is for). A run
// on a repository opened with chunkstore.Options.Candidates ("names
// dedup") keeps no such index. Before storing a NAR it lists the names
// objects of the store path's package name (storepath.PackageName; one LIST), reads
// the manifests of the newest Options.NameCandidates of those NARs and
// offers their chunks, with the locations the manifests carry, as
// candidates; the chunk store also remembers the chunks it stored lately
// and those pending, in a set of bounded size. Each NAR it stores gets a
// names object, after its manifest and before its narinfo, so a crash
// leaves at worst a manifest no name finds (stored again later, never
// wrong). On real package sets nearly every repeated chunk repeats an
// earlier NAR of the same package or the NAR itself, so little more is
// stored, and memory and local disk no longer grow with the repository:
// the cost is a LIST and a few manifest and recipe reads a NAR. Candidates
// honour the condemned list of a running garbage collection as index
// lookups do (see chunkstore). Every ingest writes the names objects,
// whichever dedup it uses, and so does a push (narstore.Store.PutNarInfo):
// a repository may switch to names dedup at any run. Repositories whose
// NARs were stored before names objects existed get them from
// `nardedup upgrade`.
//
// Several processes, on machines that share nothing but the repository,
// can split one source between them with Options.Shard: each reads every
// narinfo and takes only the store paths whose package name falls in its
// shard (see Shard), so that the versions of a package are stored by one
// process, and counts the others in Stats.OtherShard.
//
// # Following a source
//
// Follow ingests a source that is still being written: a pass, a wait of
// FollowOptions.Every, a pass of what appeared since, and so on, until
// Options.Drain is closed (the NARs in flight are stored, nothing else is
// started) or the context ends. A listing is sorted by hash, not by time,
// so new narinfos land anywhere in it; a cursor in the repository,
// cursors/<id> (id: CursorID of the source, the list file and the shard,
// so each shard has its own), records how far the follower has read, so
// that neither the next pass nor a restarted follower checks again, one
// request each, what is done. It is written after every pass that went
// to its end; a pass cut short leaves it as it was, and the next pass
// does that one again (the repository check skips what it stored). What
// it records depends on the source:
//
//   - A directory or an S3 bucket (source.Dated): the mark, the latest
//     time a narinfo was written (the later of mtime and ctime for a
//     file, LastModified in S3), and the hashes of the narinfos written
//     within FollowOptions.Slack before it. A pass takes the narinfos
//     written after mark minus slack that are not among those hashes.
//     The slack covers what a listing can miss: a narinfo written while
//     the listing went past its place, whose time is before the mark
//     that a later one set; it must exceed the time a listing takes and
//     the skew between the writers' clocks (S3 sets LastModified itself).
//     The set it keeps is what was written in one slack, small at any
//     write rate a cache sees.
//   - A growing file of store paths (FollowOptions.List, the way to
//     follow an HTTP cache): the byte offset of the end of the last
//     complete line read and the SHA-256 of the bytes before it. A pass
//     reads the lines after the offset if the file still starts with
//     those bytes; a file that shrank or was rewritten is read from the
//     start, with a warning. A last line without its newline is left for
//     the next pass.
//   - An S3 Inventory manifest as the list: the SHA-256 of the manifest.
//     A pass reads the inventory only when a new one replaced it (S3
//     writes one a day), and then whole: each inventory lists the
//     bucket, not what changed.
//
// Store paths that failed are kept in the cursor and tried again at every
// pass. A cursor that does not parse, has another version or belongs to
// another source is started over with a warning rather than refused: the
// repository, not the cursor, says what is stored, so the cost is one
// pass that checks every narinfo, where an error would stop the follower
// until someone deleted the object. A cursor the backend fails to read is
// an error.
package ingest
