// Package gzexpand replaces the gzip streams in a frame's bytes by the
// bytes they decompress to, and puts the streams back bit for bit.
//
// Cold frames are compressed with xz, which cannot shrink what gzip has
// compressed already: Debian's changelogs and manual pages, nixpkgs'
// manual pages, fonts in .pcf.gz. Most of those streams were written by
// GNU gzip, whose encoder package gnudeflate reproduces exactly. Expand
// finds every gzip member (RFC 1952) in a frame whose deflate stream
// gnudeflate remakes at some level from its decompressed bytes, checked
// byte for byte, and writes the frame in an expanded form that holds those
// bytes instead of the stream; Restore remakes the frame from that form.
// Members that cannot be remade stay as they are, as do their headers and
// trailers: only deflate streams are replaced.
//
// # Format
//
// The expanded form of a frame is
//
//	number of members n (uvarint)
//	n times: literal length, level (1-9), raw length, stream length (uvarints)
//	literal 0 | raw 0 | literal 1 | raw 1 | … | raw n-1 | the rest
//
// where literal i is the frame's bytes before stream i (after stream i-1),
// raw i the bytes stream i decompresses to, and stream i is remade as
// gnudeflate's stream of raw i at its level, which must have exactly the
// stream length recorded. Restore checks every length against the frame's
// size before it writes anything, so a damaged form fails instead of
// allocating or writing past the frame.
package gzexpand
