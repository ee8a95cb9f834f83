// Package nargen writes synthetic NARs of any size from a seed, streamed
// so that a NAR of several GiB needs no more memory than one of a few
// MiB. It is for measuring what grows with a NAR's size (memory, CPU) in
// ingest and push, at sizes no test corpus has.
//
// A NAR is a tree of directories of regular files and a few symlinks.
// File sizes are log-uniform from a few hundred bytes to a few MiB, with
// now and then one of tens of MiB. A file holds one of three kinds of
// content: text broken by store paths drawn from a pool (as binaries and
// scripts are, and what pathstrip cuts), random bytes that do not
// compress (as compressed data inside packages), or a short pattern
// repeated (as zero-filled tables). The same seed and size give the same
// NAR.
package nargen
