// Package source reads a Nix binary cache and decompresses its NAR files.
//
// A binary cache, as `nix copy --to file://DIR` writes it, holds
// DIR/nix-cache-info, DIR/<hash>.narinfo and DIR/nar/<filehash>.nar.xz (or
// .nar.zst, .nar.bz2, .nar); a narinfo's URL field is relative to the cache
// root. Open takes a directory path, a file:/// URL or an http(s):// URL and
// returns a Source: NewDir for a local directory, NewHTTP for a served cache.
//
// # Directory source
//
// List reads the directory and reports the names matching
// ^[0-9a-df-np-sv-z]{32}\.narinfo$ in sorted order. Narinfos may be hostile:
// Open accepts only clean relative paths (no "..", ".", empty elements,
// leading "/", backslashes or NUL bytes; ErrBadURL otherwise), opens them
// through an os.Root so symbolic links cannot lead outside the cache, and
// refuses non-regular files such as FIFOs. Narinfos and nix-cache-info are
// limited to MaxNarInfoSize (ErrTooLarge).
//
// # HTTP source
//
// A plain HTTP binary cache cannot be listed, so List fails with
// ErrNoListing. WithHashes gives any Source a fixed listing; ListFrom turns
// a file of store paths (one per line, `/nix/store/<hash>-<name>`) into
// hashes for it. Requests carry the caller's context; 404 and 410 wrap
// ErrNotFound, other statuses are errors naming the status. See NewHTTP for
// the timeouts.
//
// # Decompression
//
// Decompress handles the narinfo Compression values xz, zstd, bzip2 and
// none. Truncated or corrupt input gives a read error, never a clean short
// stream. (A cut exactly between two concatenated xz streams or zstd frames
// is still a valid stream; compare the output with NarSize to catch that.)
//
// xz decoding dominates the cost of ingesting a real cache, so the xz
// decoder is chosen for speed: DefaultXZ runs the xz program (`xz -dc`,
// Debian package xz-utils) when it is on PATH and falls back to the pure Go
// github.com/ulikunitz/xz otherwise. The xz process is fed through pipes
// (or reads an *os.File input directly), is killed when ctx is done or the
// stream is closed early, and is always reaped; a non-zero exit becomes an
// error quoting xz's stderr. cgo against liblzma was measured at the same
// speed as the xz program, so it is not used (it would add a build
// dependency on liblzma-dev). zstd uses pooled
// github.com/klauspost/compress/zstd decoders (single goroutine, windows up
// to 128 MiB like libzstd's default), bzip2 the standard library.
//
// Measured decompression speed (decompressed MB/s) on 48 MB of the small
// corpus's NARs, 2-core AMD EPYC VM shared with other jobs (load average
// 8-12, so treat the figures as ratios):
//
//	go test -run '^$' -bench BenchmarkDecompress -benchtime 3x ./source/
//
//	xz-exec       62 MB/s  (pipe-fed, as for an HTTP body; 35 MB/s in a busier run)
//	xz-exec-file  83 MB/s  (xz reads the NAR file itself, as for a Dir source)
//	xz-go         45 MB/s  (18 MB/s in the busier run)
//	zstd        1500 MB/s
//	bzip2         18 MB/s  (compress/bzip2)
package source
