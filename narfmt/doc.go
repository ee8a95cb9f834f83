// Package narfmt reads and writes Nix Archives (NARs) as streams.
//
// A Reader turns a NAR into a sequence of Headers, one per file system
// object, and gives the contents of regular files through Read. A Writer
// does the reverse. Both work like archive/tar: an explicit state machine,
// sticky errors, and memory use that does not depend on the size of the
// archive or of the files in it.
//
// # Format
//
// A NAR is a sequence of strings. Each string is its length as a 64-bit
// little-endian integer, then its bytes, then zero bytes up to the next
// multiple of 8. File contents are one such string. The grammar is:
//
//	nar       = str("nix-archive-1") node
//	node      = str("(") str("type") body str(")")
//	body      = str("regular") [ str("executable") str("") ] str("contents") str(contents)
//	          | str("symlink") str("target") str(target)
//	          | str("directory") { entry }
//	entry     = str("entry") str("(") str("name") str(name) str("node") node str(")")
//
// Nothing follows the root node. There are no timestamps, owners or
// permission bits other than the executable flag, so a given tree has
// exactly one NAR; nix-store --dump produces it.
//
// # Validation
//
// The Reader is as strict as Nix's own parser, and stricter where Nix
// would accept an encoding its writer never produces, so that reading a
// NAR and writing it back with a Writer gives the same bytes:
//
//   - the magic and all keywords must match exactly, in the order above;
//     a regular file must have "contents";
//   - padding must be zero bytes;
//   - the value after "executable" must be empty;
//   - entry names must be non-empty, not "." or "..", without '/' or NUL,
//     and strictly increasing (bytewise) within a directory, so no
//     duplicates;
//   - symlink targets must not contain NUL;
//   - strings must respect the limits MaxNameLen, MaxPathLen (for the full
//     path of an entry) and MaxTargetLen; keywords are at most 16 bytes.
//     A declared length is checked before any data is read, so it never
//     causes a large allocation;
//   - the stream must end right after the root node.
//
// Every error is an *Error giving the byte offset and entry path of the
// problem, for example
//
//	narfmt: at offset 1234 in "/bin/foo": entry names not sorted (after "zz")
//
// Errors about malformed data wrap ErrInvalid; a truncated stream also
// wraps io.ErrUnexpectedEOF.
//
// # Paths
//
// Header.Path is "/" for the root node and "/a/b" for the entry "b" of the
// directory entry "a" of the root. Header.Offset tells where a node lies
// in the stream, which lets callers refer back to file contents.
package narfmt
