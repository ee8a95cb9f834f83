// Package signature handles the Ed25519 signing keys and detached
// signatures of Nix binary caches.
//
// Keys are in the text format nix-store --generate-binary-cache-key writes:
// "<name>:<base64 key>", where the key is the 64-byte Ed25519 private key
// (seed followed by public key, as libsodium and crypto/ed25519 store it)
// or the 32-byte public key. A signature is "<name>:<base64 signature>",
// the form of a narinfo Sig line; the name selects the public key that
// checks it.
package signature
