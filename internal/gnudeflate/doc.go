// Package gnudeflate compresses with the deflate encoder of GNU gzip, so
// that a deflate stream gzip wrote can be remade bit for bit from its
// decompressed bytes.
//
// A Writer at level L writes the raw deflate stream (RFC 1951) that
// `gzip -L -n` writes between its 10-byte header and its 8-byte trailer.
// The reference is gzip 1.12 as shipped by Debian 12, compressing a
// regular file: `gzip -c -n -L < file`. For such input each of gzip's reads
// returns all that was asked for until the end of the file, and the stream
// is a function of the bytes alone. A Writer reproduces that by reading
// ahead exactly as gzip does, whatever the sizes of the Write calls: it
// compresses only once it holds all the bytes gzip's next read would
// return, or at Close.
//
// gzip's input kind matters in one place only. Its old "store the whole
// file" shortcut needs a seekable output and is compiled out, so a pipe
// and a file get the same block choices. But at the end of the input the
// matcher compares against window bytes past the data (gzip clears only
// two of them), and which stale bytes lie there depends on how gzip's
// reads fell. From a pipe reads can be short, so for an input longer than
// 64 KiB with zero bytes near its end `gzip < pipe` could in principle
// write another stream than `gzip < file` (a search with simulated short
// reads found none). A Writer matches the file.
//
// The encoder follows gzip's choices exactly: the per-level table of good,
// lazy, nice and chain lengths; the greedy matcher of levels 1-3 and the
// lazy one of levels 4-9 with its rule that drops far matches of length 3;
// the hash chains and window slide; when a block ends (a full literal
// buffer, a full distance buffer, or, above level 2, gzip's estimate every
// 4096 symbols that the block already compresses well, which zlib no
// longer has); the choice between stored, fixed and dynamic blocks; and
// the Huffman tree construction with its tie-breaking and length limit.
//
// Memory is fixed: a Writer holds gzip's 64 KiB window, its hash tables and
// symbol buffer, and allocates nothing per Write.
package gnudeflate
