// Package nixbase32 implements the base-32 encoding Nix uses for store path
// hashes and for the "sha256:..." hashes in narinfo files.
//
// The standard library's encoding/base32 does not fit: Nix uses its own
// 32-character alphabet (digits and lower-case letters without e, o, t and
// u), it has no padding, and it reads the input bits least significant first
// and writes the digits in reverse order, so the last character of the
// encoding holds the lowest bits of the first byte. Any bits left over in the
// first character must be zero; Decode rejects encodings where they are not,
// just as Nix does.
package nixbase32
