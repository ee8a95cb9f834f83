// Package nixhash parses and prints hashes in the textual forms Nix uses.
//
// Nix writes hashes as "<algo>:<digest>" where the digest is in Nix's own
// base-32 (see package nixbase32), in hexadecimal or in base-64, or as an SRI
// hash "<algo>-<base64>". Parse accepts all of these, deciding the encoding
// from the length of the digest exactly as Nix does. Hash.String gives the
// "sha256:<nixbase32>" form that narinfo files and signature fingerprints
// use.
package nixhash
