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
// Several processes, on machines that share nothing but the repository,
// can split one source between them with Options.Shard: each reads every
// narinfo and takes only the store paths whose package name falls in its
// shard (see Shard), so that the versions of a package are stored by one
// process, and counts the others in Stats.OtherShard.
package ingest
