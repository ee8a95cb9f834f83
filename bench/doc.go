// Package bench measures what nardedup stores for a Nix binary cache and how
// fast it gets there, and writes the result as a report.
//
// Run ingests the generations of a cache (for a make-bucket corpus:
// DIR/gen-1, DIR/gen-2, …) into scratch repositories and measures:
//
//   - per generation, with the default configuration, in one repository:
//     the bytes each generation adds (every repository object counts:
//     packs, index objects, manifests, narinfos, config), its NAR and
//     nar.xz bytes, wall time, throughput and peak RSS;
//   - the storage of the same NARs in other forms: raw, the source's
//     nar.xz files, each NAR compressed on its own by zstd at its best
//     level, chunked and deduplicated without cutting store paths,
//     nardedup itself, and nardedup after a garbage collection that
//     recompresses everything (gc --recompress, on a copy);
//   - other deduplicating tools (casync, borg with its default chunker and
//     with 64 KiB chunks, restic) over the same NARs decompressed, each
//     generation one backup, when they are installed (a row saying how to
//     install a missing one otherwise);
//   - speed: ingest from nar.xz and from an uncompressed copy of the cache,
//     next to two `xz -dc` processes over the same files; serving the last
//     generation's NARs on loopback to 1, 8 and 64 concurrent clients,
//     next to a static file server over the same bytes; peak RSS of each
//     phase;
//   - a sweep of the repository settings (average chunk size, zstd level,
//     group size) over the first generations, each in a fresh repository;
//   - the backend reads per NAR served, from which Report.Measured lets
//     package cost price the repository against the source.
//
// Report.Limits sets three of these against the limit the machine allows,
// measured in the same run: serving at 8 clients (just started and warm)
// against the static file server, ingest CPU from nar.xz against `xz -dc`
// CPU over the same files, and the first generation after recompression
// (zstd and xz frames) against its nar.xz files; each as a ratio beside
// its goal.
//
// The Report it returns encodes as JSON (Report.JSON, read back by
// ParseJSON); package bench/report renders it as Markdown and SVG bar
// charts. Nothing in a report is fixed in code: every number is measured
// by the run that made it.
package bench
