// Package bench measures what nardedup stores for a Nix binary cache and how
// fast it gets there, and writes the result as a report.
//
// Run ingests the generations of a cache (for a make-bucket corpus:
// DIR/gen-1, DIR/gen-2, …) into scratch repositories and measures three
// things:
//
//   - per generation, with the default configuration, in one repository:
//     the bytes each generation adds (every repository object counts:
//     packs, index objects, manifests, narinfos, config), its NAR and
//     nar.xz bytes, wall time, throughput and peak RSS;
//   - the storage of the same NARs in other forms: raw, the source's
//     nar.xz files, each NAR compressed on its own by zstd at its best
//     level, chunked and deduplicated without cutting store paths, and
//     nardedup itself;
//   - a sweep of the repository settings (average chunk size, zstd level,
//     group size) over the first generations, each in a fresh repository.
//
// The Report it returns renders as Markdown (Report.Markdown), JSON
// (Report.JSON) and SVG bar charts (Report.WriteFiles). Nothing in a
// report is fixed in code: every number is measured by the run that made
// it.
package bench
