// Package source reads the objects of a Nix binary cache: narinfos,
// nix-cache-info and the NAR files as they are stored, compressed. Package
// internal/decompress decodes the NARs.
//
// A binary cache, as `nix copy --to file://DIR` writes it, holds
// DIR/nix-cache-info, DIR/<hash>.narinfo and DIR/nar/<filehash>.nar.xz (or
// .nar.zst, .nar.bz2, .nar); a narinfo's URL field is relative to the cache
// root. Open takes a directory path, a file:/// URL or an http(s):// URL and
// returns a Source: NewDir for a local directory, NewHTTP for a served cache.
// NewS3 reads a cache in an S3 bucket through a Bucket the caller opened.
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
// The directory and S3 sources are Dated: they also list when each narinfo
// was written, which ingest --follow keeps its place by.
//
// # HTTP source
//
// A plain HTTP binary cache cannot be listed, so List fails with
// ErrNoListing. WithHashes gives any Source a fixed listing; ListFrom turns
// a file of store paths (one per line, `/nix/store/<hash>-<name>`) into
// hashes for it, and ReadList reads either such a file or an S3 Inventory
// of the cache's bucket (ReadInventory), which lists a bucket of millions
// of narinfos without asking S3. Requests carry the caller's context; 404 and 410 wrap
// ErrNotFound, other statuses are errors naming the status. See NewHTTP for
// the timeouts.
//
// # S3 source
//
// NewS3 reads the cache `nix copy --to s3://…` wrote through a Bucket, such
// as the S3 backend of chunkstore/backend/s3 opened on the cache's bucket
// and prefix; the caller opens it, with its endpoint and credentials. List
// lists the cache root without descending, so the NARs are not listed; a
// missing object wraps ErrNotFound.
package source
