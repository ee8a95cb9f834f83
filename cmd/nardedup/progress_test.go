package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nardedup/nardedup/internal/sample"
)

// runStderr runs the command line args and returns what it wrote to the
// error writer. The progress display has stopped writing when Run returns.
func runStderr(t *testing.T, args ...string) string {
	t.Helper()
	var errw bytes.Buffer
	a := app()
	a.ErrWriter = &errw
	if err := a.Run(append([]string{"nardedup"}, args...)); err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return errw.String()
}

var progressLine = regexp.MustCompile(`^\d\d:\d\d:\d\d (\w+): (\d+)( of (\d+))? store paths, (\d+\.\d) MiB of NAR, \d+\.\d MB/s(, \S+ left)?$`)

// progressLines checks that out holds progress lines of the command what
// only, at least one, and returns the last's store paths done and total
// ("" if unknown).
func progressLines(t *testing.T, out, what string) (done, total string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, l := range lines {
		m := progressLine.FindStringSubmatch(l)
		if m == nil || m[1] != what {
			t.Fatalf("line %q is not a progress line of %s; output:\n%s", l, what, out)
		}
		done, total = m[2], m[4]
	}
	return done, total
}

// Off a terminal, ingest and verify print progress lines whose last one
// counts every store path (of the total when a list gives it), and
// --quiet prints none.
func TestProgressLines(t *testing.T) {
	defer func(d time.Duration) { progressEvery = d }(progressEvery)
	progressEvery = time.Millisecond
	dir := t.TempDir()
	bucket, err := sample.WriteBucket(filepath.Join(dir, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(dir, "gen-1.paths")
	paths := sample.Paths(1)
	if err := os.WriteFile(list, []byte(strings.Join(append(paths, paths[0]), "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	narinfos, err := filepath.Glob(filepath.Join(bucket, "*.narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	repo := []string{"--repo", filepath.Join(dir, "repo"), "--index-cache", filepath.Join(dir, "cache")}
	ingest := append([]string{"ingest"}, repo...)

	out := runStderr(t, append(ingest, "--list", list, bucket)...)
	if done, total := progressLines(t, out, "ingest"); done != fmt.Sprint(len(paths)) || total != done {
		t.Errorf("ingest --list: last line says %s of %s store paths; want %d of %d", done, total, len(paths), len(paths))
	}
	out = runStderr(t, append(ingest, bucket)...)
	if done, total := progressLines(t, out, "ingest"); done != fmt.Sprint(len(narinfos)) || total != "" {
		t.Errorf("ingest: last line says %s of %q store paths; want %d, no total", done, total, len(narinfos))
	}
	out = runStderr(t, append([]string{"verify"}, repo...)...)
	if done, total := progressLines(t, out, "verify"); done != fmt.Sprint(len(narinfos)) || total != "" {
		t.Errorf("verify: last line says %s of %q store paths; want %d, no total", done, total, len(narinfos))
	}
	for _, cmd := range []string{"ingest", "verify"} {
		args := append([]string{cmd, "--quiet"}, repo...)
		if cmd == "ingest" {
			args = append(args, bucket)
		}
		if out := runStderr(t, args...); out != "" {
			t.Errorf("%s --quiet printed %q", cmd, out)
		}
	}
}
