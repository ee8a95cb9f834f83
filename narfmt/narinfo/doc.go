// Package narinfo reads, writes, signs and verifies narinfo files, the
// per-path metadata of a Nix binary cache (<hash>.narinfo).
//
// A narinfo is a list of "Key: value" lines. Parse is strict where Nix's
// own parser is loose: every line must end in a newline and have ": "
// after the key, numbers must be canonical decimal, hashes must parse with
// nixhash, store paths with storepath, and a single-valued key may appear
// only once (Nix keeps the last; refusing removes any doubt about which
// value a signature covered). Hash fields keep their text and the key order
// and unknown keys are remembered, so String reproduces the parsed text
// byte for byte.
//
// Fingerprint computes the string Nix signs (ValidPathInfo::fingerprint):
//
//	1;<store path>;<NarHash as algo:nixbase32>;<NarSize>;<references>
//
// with the references as full store paths, sorted, without duplicates and
// joined by commas. Sign and Verify use it with package signature.
package narinfo
