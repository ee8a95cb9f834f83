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
package ingest
