// Package gziptest makes the test data of the code that remakes gzip
// streams (internal/gnudeflate, chunkstore/gzexpand): files as the gzip
// program writes them, text with the statistics of prose, random bytes.
package gziptest

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Program returns what `gzip -c -n -LEVEL` writes for the regular file at
// path: a gzip member whose deflate stream is out[10:len(out)-8]. It skips
// t where the gzip program is missing.
func Program(t testing.TB, path string, level int) []byte {
	t.Helper()
	bin, err := exec.LookPath("gzip")
	if err != nil {
		t.Skip("gzip is not installed")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-c", "-n", "-"+strconv.Itoa(level))
	cmd.Stdin, cmd.Stderr = f, &stderr
	out, err := cmd.Output()
	if err != nil || len(out) < 18 {
		t.Fatalf("gzip -%d %s: %v: %s", level, path, err, stderr.Bytes())
	}
	return out
}

// File returns what the gzip program writes at level for data, read from
// a regular file as gzip reads the files it compresses.
func File(t testing.TB, data []byte, level int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return Program(t, path, level)
}

// Words returns n bytes of text with the statistics of prose: words of a
// small vocabulary in a random order, in sentences and lines.
func Words(seed uint64, n int) []byte {
	vocab := strings.Fields("the a of to and in is store path nix hash archive file " +
		"chunk pack frame cold warm read write block match window slide tree")
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(vocab[r.IntN(len(vocab))])
		if r.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// Random returns n random bytes.
func Random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
