// Package progress shows how far a long command (ingest, verify, export,
// gc) has got: store paths done of the total, bytes, rate and time left.
//
// On a terminal a Reporter draws one bar (github.com/schollz/progressbar),
// or a spinner with the counts while the total is not known. Anywhere
// else, such as a log file or a pipe, it prints a plain line every few
// seconds and one at the end, so that a log shows both that a run is alive
// and what it did. A nil *Reporter does nothing, for --quiet.
//
// Update is cheap and safe from any goroutine: the commands call it from
// the callbacks of ingest, admin and gc, some of which run under a lock.
package progress
