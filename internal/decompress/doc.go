// Package decompress decodes the NAR files of a Nix binary cache: the
// narinfo Compression values xz, zstd, bzip2 and none.
//
// NewReader returns the decoded stream. Truncated or corrupt input gives a
// read error, never a clean short stream. (A cut exactly between two
// concatenated xz streams or zstd frames is still a valid stream; compare
// the output with NarSize to catch that.) Empty zstd frames, xz stream
// padding and empty bzip2 streams decode to nothing, so a decoder fed an
// endless run of them reads forever: bound the input (ingest stops one
// byte past the narinfo's FileSize).
//
// xz decoding dominates the cost of ingesting a real cache, so the xz
// decoder is chosen for speed. DefaultXZ calls liblzma in this process
// (liblzma.so.5, Debian's liblzma5, loaded with dlopen by a Linux build
// with cgo, so building needs no liblzma-dev), on a goroutine of its own a
// few blocks ahead of the reader. Without it, it runs the xz program (`xz
// -dc`, Debian package xz-utils), fed through pipes (or reading an
// *os.File input directly), killed when ctx is done or the stream is
// closed early, and always reaped; a non-zero exit becomes an error quoting
// xz's stderr. Without either, it falls back to the pure Go
// github.com/ulikunitz/xz. liblzma decodes as fast as the xz program, but
// the program costs a pipe write and read of every output byte and the
// switches between the processes. zstd uses pooled
// github.com/klauspost/compress/zstd decoders (single goroutine, windows
// up to 128 MiB like libzstd's default), bzip2 the standard library.
//
// README.md's Speed section has the measured speeds of each decoder and
// the benchmark that measures them.
package decompress
