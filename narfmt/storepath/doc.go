// Package storepath parses and validates Nix store paths.
//
// A store path is <storeDir>/<hash>-<name>: hash is 32 characters of Nix
// base-32 (a 160-bit digest) and name follows Nix's name rules. The rules
// here are those of Nix 2.8: a name is 1 to 211 characters from
// [a-zA-Z0-9+-._?=]. Nix 2.8 places no restriction on a leading "."
// (nix-store --add .file creates such paths), so neither does this package;
// later Nix versions reject the names ".", ".." and names starting with ".-"
// or "..-", which is noted at ValidateName. Unlike Nix 2.8, which never looks
// at the character between hash and name, this package requires it to be
// "-", as every path Nix creates has it.
//
// The store directory is always a parameter; DefaultStoreDir is the usual
// one.
package storepath
