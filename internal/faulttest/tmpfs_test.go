package faulttest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nardedup/nardedup/chunkstore/backend/local"
)

// mountTmpfs mounts a tmpfs of size (as mount's size= option) on a new
// directory and unmounts it when the test ends. It skips the test when the
// mount is refused (not root, no permission in a container).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a %s tmpfs (needs root): %v: %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestIngestOnFullTmpfs ingests the sample cache into a repository on a
// tmpfs too small for it, so that a real Put fails with ENOSPC: the ingest
// must fail naming the full disk, every visible store path must verify, no
// temporary file may be left behind, and once the repository is copied to
// a bigger disk a second ingest must complete.
func TestIngestOnFullTmpfs(t *testing.T) {
	for _, size := range []string{"96k", "256k", "352k"} {
		t.Run(size, func(t *testing.T) {
			mnt := mountTmpfs(t, size)
			be, err := local.Open(filepath.Join(mnt, "repo"))
			must(t, err)
			r := newRepoOn(t, be, filepath.Join(t.TempDir(), "index.db"))
			stats, err := r.ingest()
			checkFailures(t, stats, err, []string{"no space left on device"})
			r.reopen(t)
			checkVisible(t, r)
			t.Logf("%s: %d of %d narinfos visible after the disk filled up", size,
				len(keys(t, r.be, "narinfo/")), len(upstream(t, r.bucket)))
			checkNoStrayFiles(t, r)
			must(t, r.close())

			bigger := filepath.Join(t.TempDir(), "repo")
			must(t, os.CopyFS(bigger, os.DirFS(filepath.Join(mnt, "repo"))))
			be2, err := local.Open(bigger)
			must(t, err)
			t.Cleanup(func() { be2.Close() })
			r2 := &repo{be: be2, idx: r.idx, bucket: r.bucket}
			t.Cleanup(func() { r2.close() })
			must(t, r2.open())
			if stats, err := r2.ingest(); err != nil {
				t.Fatalf("ingest on a bigger disk: got %v (%v); want success", err, stats.Failures)
			}
			checkClean(t, r2)
			if n := len(keys(t, r2.be, "narinfo/")); n != len(upstream(t, r2.bucket)) {
				t.Errorf("on a bigger disk: got %d narinfos; want %d", n, len(upstream(t, r2.bucket)))
			}
		})
	}
}

// checkNoStrayFiles fails if the repository directory holds a file that
// is not an object (a temporary file left by a failed Put).
func checkNoStrayFiles(t *testing.T, r *repo) {
	t.Helper()
	objects := make(map[string]bool)
	for _, k := range keys(t, r.be, "") {
		objects[k] = true
	}
	dir := r.be.(*local.Backend).Dir()
	must(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err == nil && !objects[filepath.ToSlash(rel)] {
			t.Errorf("stray file %s after the disk filled up", rel)
		}
		return err
	}))
}
