// Package filecache keeps a bounded set of local files in least recently
// used order: the shared mechanics of the chunk store's disk cache, the
// server's NAR cache and the proxy's chunk cache.
//
// A Cache indexes entries by a comparable key. Each entry names its file
// (or none, for an entry held in memory by its user), its size and a value
// of the user's choosing, such as a checksum. New files are written to a
// temporary file and renamed into place, so a kill leaves whole files or
// none; the total size of the entries stays within a bound, the least
// recently used evicted first, their files removed. On start a user scans
// its directory with its own naming rules and hands what it found to
// Adopt, which restores the order from the files' modification times;
// Touch refreshes a file's time on a hit so that the order survives
// restarts.
//
// The cache does not check contents: each user verifies what it reads
// (CRC, BLAKE3 id, NAR hash) and Drops an entry found damaged.
package filecache
