// Package compat holds the tests that the current code still reads
// repositories written by earlier code, unchanged.
//
// testdata/repo-v1 at the top of the module is a repository of format
// version 1 made from the sample cache by an earlier nardedup and frozen
// (testdata/README.md says how). The tests open a copy of it, rebuild
// every NAR and check it against its narinfo and the sample's signature,
// serve it over HTTP and check every narinfo and NAR served, and collect
// its statistics; through the nardedup command too, and with real Nix
// copying from it when Nix is installed.
//
//	go test ./internal/compat/
package compat
